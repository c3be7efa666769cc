"""One document, any two doors: sent over REST /v1, VXP or the hub SOAP door, fetched by the
recipient over each other door with the same attachment bytes (same SHA-256).

A real gateway on loopback, real RabbitMQ; clients written from the protocols alone
(``tests/vxp_client.py``, ``tests/hub_client.py``) plus the signed REST headers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import aiohttp
import pytest

from edxml.build import build, new_document
from edxml.model import Attachment, Code, Envelope, Organization
from edxml.parse import parse
from gateway.credentials.auth import sign_request
from tests.hub_client import E, HubClient, decode_part, send_document_envelope
from tests.integration.gateway_node import running_node, settings_for
from tests.vxp_client import VxpTestClient
from tests.world import G22, H41, SECRETS

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\r\n" + bytes(range(256)) * 64 + b"\r\n%%EOF\r\n"
DOORS = ("rest", "vxp", "soap")
PAIRS = [(s, f) for s in DOORS for f in DOORS if s != f]


@dataclass
class Node:
    url: str
    http: aiohttp.ClientSession

    def hub(self, organ: str, system: str) -> HubClient:
        return HubClient(self.http, self.url + "/services/eDoc", organ, SECRETS[system])

    def vxp(self, system: str) -> VxpTestClient:
        return VxpTestClient(self.http, self.url + "/vxp", system, SECRETS[system])

    async def rest(self, method: str, path: str, system: str, body: bytes = b"") -> bytes:
        headers = sign_request(system, SECRETS[system], method, path, body)
        async with self.http.request(
            method, self.url + path, data=body or None, headers=headers
        ) as r:
            assert r.status < 300, await r.text()
            return await r.read()


@pytest.fixture
async def node(tmp_path: Path, amqp_url: str) -> AsyncIterator[Node]:
    settings = settings_for(tmp_path, amqp_url)
    async with running_node(settings) as server, aiohttp.ClientSession() as http:
        yield Node(str(server.make_url("")).rstrip("/"), http)


def qcvn_packet(number: str) -> bytes:
    envelope = new_document(
        sender=Organization(organ_id=G22, organ_name="Văn phòng Chính phủ"),
        to=[Organization(organ_id=H41, organ_name="UBND tỉnh Nghệ An")],
        code=Code(number, "SA-VP"),
        subject="Thử nghiệm liên cửa",
        promulgation_date=date(2024, 5, 10),
        attachments=[
            Attachment("att1", "a.pdf", None, "application/pdf", base64.b64encode(PDF).decode())
        ],
    )
    return build(envelope)


async def send(node: Node, door: str, number: str) -> None:
    if door == "rest":
        await node.rest("POST", "/v1/messages", "SYS-G22", qcvn_packet(number))
    elif door == "vxp":
        answer = await node.vxp("SYS-G22").send_edoc(qcvn_packet(number), sender=G22)
        assert answer["status"] == "OK", answer
    else:
        root = send_document_envelope(
            sender=G22,
            to=[H41],
            number=number,
            key_organ=G22,
            token=SECRETS["SYS-G22"],
            attachments={"att1": "a.pdf"},
        )
        answer = await node.hub(G22, "SYS-G22").post(
            "SendDocument", root, {"att1": ("application/pdf", PDF)}
        )
        assert answer.ok, answer.error_codes


def _attachment_from_qcvn(raw: bytes, document_id: str) -> bytes | None:
    packet = parse(raw)
    if not isinstance(packet, Envelope) or packet.document_id != document_id:
        return None
    assert len(packet.attachments) == 1
    return base64.b64decode(packet.attachments[0].encoded)


async def fetch_once(node: Node, door: str, document_id: str) -> bytes | None:
    if door == "rest":
        items = json.loads(await node.rest("GET", "/v1/inbox?limit=100", "SYS-H41"))["items"]
        for item in items:
            raw = await node.rest("GET", f"/v1/messages/{item['message_id']}", "SYS-H41")
            found = _attachment_from_qcvn(raw, document_id)
            if found is not None:
                return found
        return None
    if door == "vxp":
        client = node.vxp("SYS-H41")
        listed = await client.get_received_edoc_list()
        for item in listed.get("data") or []:
            _, raw = await client.get_edoc(str(item["docId"]))
            found = _attachment_from_qcvn(raw or b"", document_id)
            if found is not None:
                return found
        return None
    hub = node.hub(H41, "SYS-H41")
    for number in await hub.pending():
        answer = await hub.get_document(number)
        header = answer.envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Header")
        assert header is not None
        if header.findtext(f"{{{E}}}MessageHeader/{{{E}}}DocumentId") != document_id:
            continue
        assert SECRETS["SYS-G22"].encode() not in b"".join(d for _, d in answer.parts.values())
        ((_, data),) = answer.parts.values()
        return decode_part(data)
    return None


@pytest.mark.parametrize(("sent_over", "fetched_over"), PAIRS, ids=[f"{s}->{f}" for s, f in PAIRS])
async def test_sent_over_one_door_fetched_over_another(
    node: Node, sent_over: str, fetched_over: str
) -> None:
    number = str(700 + PAIRS.index((sent_over, fetched_over)))
    await send(node, sent_over, number)
    document_id = f"{G22},2024/05/10,{number}/SA-VP"
    for _ in range(400):
        found = await fetch_once(node, fetched_over, document_id)
        if found is not None:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"{document_id} never reached {fetched_over}")
    assert hashlib.sha256(found).hexdigest() == hashlib.sha256(PDF).hexdigest()
