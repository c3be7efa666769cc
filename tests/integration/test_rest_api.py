"""Native API v1 end to end: the real app over loopback HTTP, real RabbitMQ, SQLite store.

A signed document goes from G22 (system SYS-G22) to H41 (SYS-H41, pull mailbox); the
recipient pulls, fetches and acknowledges; the gateway answers the sender with status 01;
the recipient's next statuses follow the state machine; refusals carry code and messages.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from edxml.build import build, new_document, status_message
from edxml.model import Code, Organization, ResponseFor, StatusCode
from edxml.signature import sign
from gateway.app import build_app
from gateway.config import load_settings
from gateway.credentials.auth import sign_request
from tests import world
from tests.pki import Credential, make_ca, make_leaf, write_pems
from tests.world import G22, H41, LOCKED

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SECRETS = {**world.SECRETS, "SYS-X": "secret-x"}  # SYS-X: a system of no agency
AGENCIES = world.agencies()


@dataclass
class Node:
    url: str
    session: aiohttp.ClientSession
    ca_cert: Path
    signer: Credential

    async def call(
        self,
        method: str,
        path: str,
        system: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        auth = sign_request(system, SECRETS[system], method, path, body)
        response = await self.session.request(
            method, self.url + path, data=body, headers={**auth, **(headers or {})}
        )
        await response.read()
        return response

    def document(self, number: str, to: tuple[str, ...] = (H41,), sender: str = G22) -> bytes:
        packet = new_document(
            sender=Organization(organ_id=sender, organ_name="Văn phòng Chính phủ"),
            to=[Organization(organ_id=c) for c in to],
            code=Code(number, "VPCP-TH"),
            subject="Về việc thử nghiệm cổng trao đổi văn bản",
            promulgation_date=date(2026, 1, 5),
        )
        return sign(build(packet), self.signer.key, self.signer.chain)

    async def wait_inbox(self, system: str, predicate: Any) -> list[dict[str, Any]]:
        for _ in range(600):
            response = await self.call("GET", "/v1/inbox?limit=50", system)
            items = [i for i in (await response.json())["items"] if predicate(i)]
            if items:
                return items
            await asyncio.sleep(0.05)
        raise AssertionError("inbox item never appeared")


@pytest.fixture
async def node(tmp_path: Path, amqp_url: str) -> AsyncIterator[Node]:
    ca = make_ca("Test Root CA")
    paths = write_pems(
        tmp_path / "pki", ca=ca, node=make_leaf(ca, "edoc node"), signer=make_leaf(ca, "VPCP")
    )
    settings = load_settings(
        None,
        store={"url": f"sqlite:///{tmp_path / 'store.db'}", "blob_dir": str(tmp_path / "blobs")},
        amqp={"url": amqp_url, "retry_ladder": [1, 2], "outbox_interval_s": 1.0},
        node={"code": G22, "key_file": paths["node.key"], "cert_file": paths["node.chain"]},
        trust={"anchors": [paths["ca.cert"]]},
        limits={"max_packet_bytes": 2 * 2**20},
        calendar_file=REPO / "config" / "calendar.toml",
        systems=[
            {"id": "SYS-G22", "secret": SECRETS["SYS-G22"], "agencies": [G22]},
            {"id": "SYS-H41", "secret": SECRETS["SYS-H41"], "agencies": [H41]},
            {"id": "SYS-X", "secret": SECRETS["SYS-X"], "agencies": []},
        ],
        directory={"agencies": AGENCIES},
    )
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    signer = make_leaf(ca, "Văn phòng Chính phủ")
    async with aiohttp.ClientSession() as session:
        try:
            yield Node(str(server.make_url("")).rstrip("/"), session, paths["ca.cert"], signer)
        finally:
            await server.close()


def error_of(body: bytes) -> dict[str, str]:
    error = json.loads(body)["error"]
    assert error["message_vi"] and error["message_en"]
    return error


async def test_document_round_trip_with_ack_and_statuses(node: Node) -> None:
    packet = node.document("101")
    first = await node.call("POST", "/v1/messages", "SYS-G22", packet)
    assert first.status == 202, await first.text()
    receipt = await first.json()
    assert receipt["signature"]["status"] == "verified"
    assert receipt["recipients"][0]["resolved_code"] == H41
    assert receipt["duplicate"] is False
    assert receipt["legal_receipt_at"]

    again = await node.call("POST", "/v1/messages", "SYS-G22", packet)
    assert again.status == 200
    assert (await again.json())["message_id"] == receipt["message_id"]
    assert (await again.json())["duplicate"] is True

    message_id = receipt["message_id"]
    items = await node.wait_inbox("SYS-H41", lambda i: i["message_id"] == message_id)
    assert items[0]["kind"] == "document" and items[0]["sender"] == G22

    fetched = await node.call("GET", f"/v1/messages/{message_id}", "SYS-H41")
    assert fetched.status == 200 and await fetched.read() == packet
    stranger = await node.call("GET", f"/v1/messages/{message_id}", "SYS-X")
    assert stranger.status == 404

    acked = await node.call("POST", f"/v1/messages/{message_id}/ack", "SYS-H41")
    assert acked.status == 200 and (await acked.json())["acked"] == [H41]

    # The gateway tells the sender "01 arrived" through the sender's own mailbox.
    statuses = await node.wait_inbox("SYS-G22", lambda i: i["kind"] == "status")
    assert statuses[0]["status_code"] == 1 and statuses[0]["sender"] == H41

    doc = ResponseFor(organ_id=G22, document_id=receipt["document_id"])

    def status(code: StatusCode) -> bytes:
        return build(status_message(sender=Organization(organ_id=H41), document=doc, code=code))

    accepted = await node.call("POST", "/v1/messages", "SYS-H41", status(StatusCode.ACCEPTED))
    assert accepted.status == 202, await accepted.text()
    skipped = await node.call("POST", "/v1/messages", "SYS-H41", status(StatusCode.DONE))
    assert skipped.status == 409
    assert error_of(await skipped.read())["code"] == "STATUS_TRANSITION"

    trace = await node.call("GET", f"/v1/messages/{message_id}/trace", "SYS-G22")
    body = await trace.json()
    assert [s["status_code"] for s in body["statuses"]] == ["01", "03"]
    assert body["deliveries"][0]["state"] == "acked"


async def test_xml_receipt_is_signed_by_the_node(node: Node, tmp_path: Path) -> None:
    response = await node.call(
        "POST",
        "/v1/messages",
        "SYS-G22",
        node.document("102"),
        headers={"Accept": "application/xml"},
    )
    assert response.status == 202
    assert response.content_type == "application/xml"
    receipt = tmp_path / "receipt.xml"
    receipt.write_bytes(await response.read())
    check = subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(node.ca_cert), str(receipt)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("bad-signature", 401, "AUTH_FAILED"),
        ("not-sender", 403, "SENDER_NOT_ALLOWED"),
        ("not-xml", 400, "EDXML_NOT_WELL_FORMED"),
        ("unknown-recipient", 422, "CODE_UNKNOWN"),
        ("suspended-recipient", 422, "AGENCY_INACTIVE"),
        ("too-large", 413, "PAYLOAD_TOO_LARGE"),
    ],
)
async def test_refusals(node: Node, case: str, status: int, code: str) -> None:
    path, body, system = "/v1/messages", node.document("103"), "SYS-G22"
    headers: dict[str, str] = {}
    if case == "bad-signature":
        headers = {"X-Edoc-Signature": "00" * 32}
    elif case == "not-sender":
        system = "SYS-H41"
    elif case == "not-xml":
        body = b"<edXML><unclosed>"
    elif case == "unknown-recipient":
        body = node.document("104", to=("000.00.00.H63",))
    elif case == "suspended-recipient":
        body = node.document("105", to=(LOCKED,))
    elif case == "too-large":
        body = b"<a>" + b"x" * (2 * 2**20) + b"</a>"
    response = await node.call("POST", path, system, body, headers)
    assert response.status == status, await response.text()
    error = error_of(await response.read())
    assert error["code"] == code
    assert "secret" not in (await response.text()).lower()


async def test_replay_and_token(node: Node) -> None:
    auth = sign_request("SYS-H41", SECRETS["SYS-H41"], "GET", "/v1/inbox", b"")
    first = await node.session.get(node.url + "/v1/inbox", headers=auth)
    assert first.status == 200
    replay = await node.session.get(node.url + "/v1/inbox", headers=auth)
    assert replay.status == 401
    assert (await replay.json())["error"]["code"] == "AUTH_REPLAY"

    issued = await node.call("POST", "/v1/tokens", "SYS-H41")
    token = (await issued.json())["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    inbox = await node.session.get(node.url + "/v1/inbox", headers=bearer)
    assert inbox.status == 200
    wrong = await node.session.get(node.url + "/v1/inbox", headers={"Authorization": "Bearer x"})
    assert wrong.status == 401
    minted = await node.session.post(node.url + "/v1/tokens", headers=bearer)
    assert minted.status == 401  # only a signed request mints a token, never a token
    assert (await minted.json())["error"]["code"] == "AUTH_FAILED"


async def test_openapi_document(node: Node) -> None:
    response = await node.session.get(node.url + "/v1/openapi.json")
    doc = await response.json()
    assert doc["openapi"].startswith("3.")
    for path in ("/messages", "/inbox", "/messages/{message_id}", "/messages/{message_id}/ack"):
        assert path in doc["paths"]
