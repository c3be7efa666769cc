"""The same ten kinds of refusal at every door, each leaving exactly one audit record.

One live ``edoc-gateway serve`` process (SQLite store, real RabbitMQ) takes the same ten kinds
of refusal at the native REST API (``/v1``), the VXP door (``/vxp``) and the hub SOAP door
(``/services/eDoc``), and ten refusals of its own at the admin API (``/admin``, with the
maintenance switch beside it). Each case is sent alone in its own time window; afterwards the
real CLI, ``edoc-gateway audit show --since T --json``, lists the audit chain and every window
must hold exactly one record, naming the code the door answered. The count does not depend
on how a door audits (in the core, in the door, or at the edge): only on what the chain holds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from lxml import etree

from edxml.model import NAMESPACE
from gateway.credentials.auth import sign_request
from tests import world
from tests.hub_client import HubClient, credentials, envelope, send_document_envelope
from tests.integration.door_node import MAX_PACKET, SETTLE_S, Node, at_of, audit_since, door_node
from tests.services import RabbitMQ
from tests.vxp_client import VxpTestClient
from tests.world import ADMIN_TOKEN, CLOSED, G22, H41, LOCKED, SECRETS, document

pytestmark = pytest.mark.integration

UNKNOWN = "000.00.00.H63"
PDF = {"att1": ("application/pdf", b"%PDF-1.4\n%%EOF\n")}

KINDS = (
    "bad-credentials",
    "oversized-body",
    "malformed-xml",
    "field-missing",
    "unknown-recipient",
    "suspended-recipient",
    "recipient-not-allowed",
    "sender-not-allowed",
    "suspended-sender",
    "maintenance",
)
"""The ten kinds every packet door can express (a hub client has no nonce nor timestamp,
so replay and freshness are left to the REST and VXP tests)."""

EXPECTED: dict[str, str] = {
    "bad-credentials": "AUTH_FAILED",
    "oversized-body": "PAYLOAD_TOO_LARGE",
    "malformed-xml": "EDXML_NOT_WELL_FORMED",
    "field-missing": "EDXML_FIELD",
    "unknown-recipient": "CODE_UNKNOWN",
    "suspended-recipient": "AGENCY_INACTIVE",
    "recipient-not-allowed": "RECIPIENT_NOT_ALLOWED",
    "sender-not-allowed": "SENDER_NOT_ALLOWED",
    "suspended-sender": "AGENCY_INACTIVE",
    "maintenance": "MAINTENANCE",
}

ADMIN_CASES: dict[str, str] = {
    "no-token": "AUTH_FAILED",
    "wrong-token": "AUTH_FAILED",
    "agency-signed-request": "AUTH_FAILED",
    "agency-bearer-token": "AUTH_FAILED",
    "maintenance-wrong-token": "AUTH_FAILED",
    "malformed-json": "BAD_REQUEST",
    "not-an-object": "BAD_REQUEST",
    "unknown-status": "DIRECTORY_CHANGE_REFUSED",
    "merge-into-itself": "DIRECTORY_CHANGE_REFUSED",
    "bad-endpoint-kind": "BAD_REQUEST",
    "unknown-action": "NOT_FOUND",
}


# -- the node -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node(rabbitmq: RabbitMQ, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with door_node(rabbitmq, tmp_path_factory.mktemp("doors")) as started:
        yield started


@dataclass(frozen=True)
class Refused:
    """A refusal as the door rendered it."""

    code: str
    messages: tuple[str, ...]


@dataclass
class Window:
    """One case: its time window and what the door answered."""

    door: str
    kind: str
    start: datetime
    end: datetime
    refused: Refused


# -- packets ------------------------------------------------------------------------------


def _without_subject(packet: bytes) -> bytes:
    root = etree.fromstring(packet)
    subject = root.find(f".//{{{NAMESPACE}}}Subject")
    assert subject is not None
    subject.getparent().remove(subject)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def packet_for(node: Node, kind: str) -> tuple[str, bytes]:
    """The system sending and the packet it sends for one kind (REST and VXP)."""
    number = node.number()
    if kind == "oversized-body":
        filler = b"X" * MAX_PACKET
        return "SYS-G22", document(number).replace(b"</", filler + b"</", 1)
    if kind == "malformed-xml":
        return "SYS-G22", b"<edXML><unclosed>"
    if kind == "field-missing":
        return "SYS-G22", _without_subject(document(number))
    if kind == "unknown-recipient":
        return "SYS-G22", document(number, to=(UNKNOWN,))
    if kind == "suspended-recipient":
        return "SYS-G22", document(number, to=(LOCKED,))
    if kind == "recipient-not-allowed":
        return "SYS-G22", document(number, to=(CLOSED,))
    if kind == "sender-not-allowed":
        return "SYS-H41", document(number, sender=G22)
    if kind == "suspended-sender":
        return world.LOCKED_SYSTEM, document(number, sender=LOCKED)
    return "SYS-G22", document(number)  # bad-credentials, maintenance


# -- the doors ----------------------------------------------------------------------------


def _refused_json(data: dict[str, Any]) -> Refused:
    error = data["error"]
    return Refused(error["code"], (error["message_vi"], error["message_en"]))


async def rest(http: aiohttp.ClientSession, node: Node, kind: str) -> Refused:
    system, body = packet_for(node, kind)
    secret = "not-the-secret" if kind == "bad-credentials" else SECRETS[system]
    headers = sign_request(system, secret, "POST", "/v1/messages", body)
    async with http.post(node.url + "/v1/messages", data=body, headers=headers) as response:
        assert 400 <= response.status < 600, response.status
        return _refused_json(json.loads(await response.read()))


async def vxp(http: aiohttp.ClientSession, node: Node, kind: str) -> Refused:
    system, body = packet_for(node, kind)
    secret = "not-the-secret" if kind == "bad-credentials" else SECRETS[system]
    client = VxpTestClient(http, node.url + "/vxp", system, secret)
    sender = world.AGENCY_OF[system] if kind != "sender-not-allowed" else G22
    answer = await client.send_edoc(body, sender=sender)
    assert answer["status"] == "FAIL" and answer["ErrorCode"] not in ("0", ""), answer
    vi, _, en = answer["ErrorDesc"].partition(" / ")
    return Refused(answer["code"], (vi, en))


def _soap_request(node: Node, kind: str) -> tuple[str, str, str, bytes]:
    """Organ, token, action and root envelope of one hub request."""
    organ, token, sender, to = G22, SECRETS["SYS-G22"], G22, H41
    if kind == "oversized-body":
        listing = envelope(credentials("GetOrganizations", organ, token))
        big = listing.replace("<s:Body>", "<s:Body>" + " " * (5 * 2**20))
        return organ, token, "GetOrganizations", big.encode()
    if kind == "bad-credentials":
        token = "not-the-secret"
    elif kind == "unknown-recipient":
        to = UNKNOWN
    elif kind == "suspended-recipient":
        to = LOCKED
    elif kind == "recipient-not-allowed":
        to = CLOSED
    elif kind == "sender-not-allowed":  # KeyInfo names H41 (its own valid token), From G22
        organ, token = H41, SECRETS["SYS-H41"]
    elif kind == "suspended-sender":
        organ, token, sender = LOCKED, SECRETS[world.LOCKED_SYSTEM], LOCKED
    root = send_document_envelope(
        sender=sender,
        to=[to],
        number=node.number(),
        key_organ=organ,
        token=token,
        attachments={"att1": "a.pdf"},
    )
    if kind == "malformed-xml":
        root = root[: len(root) // 2]
    elif kind == "field-missing":
        root = root.replace("<Subject>Văn bản thử nghiệm</Subject>", "")
    return organ, token, "SendDocument", root.encode()


async def soap(http: aiohttp.ClientSession, node: Node, kind: str) -> Refused:
    organ, token, action, root = _soap_request(node, kind)
    client = HubClient(http, node.url + "/services/eDoc", organ, token)
    answer = await client.post(action, root, PDF if action == "SendDocument" else None)
    assert answer.status == 200 and not answer.ok
    description = answer.findall("Report/ErrorList/Error/Description")
    vi, _, en = str(description[0].text if description else "").partition(" / ")
    return Refused(answer.error_codes[0], (vi, en))


async def admin(http: aiohttp.ClientSession, node: Node, kind: str) -> Refused:
    base, bearer = node.url + "/admin/v1", {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    agency = f"{base}/agencies/{H41}"
    if kind == "no-token":
        call = http.get(base + "/agencies")
    elif kind == "wrong-token":
        call = http.get(base + "/agencies", headers={"Authorization": "Bearer not-the-token"})
    elif kind == "agency-signed-request":
        headers = sign_request("SYS-G22", SECRETS["SYS-G22"], "GET", "/admin/v1/agencies")
        call = http.get(base + "/agencies", headers=headers)
    elif kind == "agency-bearer-token":
        call = http.get(base + "/agencies", headers={"Authorization": f"Bearer {node.token}"})
    elif kind == "maintenance-wrong-token":
        call = http.post(
            node.url + "/maintenance", json={}, headers={"Authorization": "Bearer nope"}
        )
    elif kind == "malformed-json":
        call = http.put(agency, data=b"{not json", headers=bearer)
    elif kind == "not-an-object":
        call = http.put(agency, json=["UBND tỉnh Nghệ An"], headers=bearer)
    elif kind == "unknown-status":
        call = http.put(agency, json={"name": "UBND tỉnh Nghệ An", "status": "x"}, headers=bearer)
    elif kind == "merge-into-itself":
        call = http.post(agency + "/merge", json={"into": H41}, headers=bearer)
    elif kind == "unknown-action":
        call = http.post(agency + "/explode", json={}, headers=bearer)
    else:  # bad-endpoint-kind
        call = http.post(agency + "/endpoint", json={"kind": "carrier-pigeon"}, headers=bearer)
    async with call as response:
        assert 400 <= response.status < 500, response.status
        return _refused_json(json.loads(await response.read()))


Door = Callable[[aiohttp.ClientSession, Node, str], Awaitable[Refused]]
DOORS: dict[str, Door] = {"rest": rest, "vxp": vxp, "soap": soap}


# -- the test -----------------------------------------------------------------------------


async def _maintenance(http: aiohttp.ClientSession, node: Node, on: bool) -> None:
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    method = "POST" if on else "DELETE"
    async with http.request(method, node.url + "/maintenance", headers=bearer) as response:
        assert response.status == 200


async def _in_window(
    http: aiohttp.ClientSession, node: Node, door: str, kind: str, send: Door
) -> Window:
    """Send one case alone in its own window; setup and teardown stay outside it."""
    if kind == "maintenance":
        await _maintenance(http, node, True)
    await asyncio.sleep(SETTLE_S)
    start = datetime.now(UTC)
    try:
        refused = await send(http, node, kind)
        await asyncio.sleep(SETTLE_S)
        end = datetime.now(UTC)
    finally:
        if kind == "maintenance":
            await _maintenance(http, node, False)
    return Window(door, kind, start, end, refused)


async def test_every_door_audits_each_refusal_exactly_once(node: Node) -> None:
    began = datetime.now(UTC)
    windows: list[Window] = []
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        token_path = "/v1/tokens"
        auth = sign_request("SYS-G22", SECRETS["SYS-G22"], "POST", token_path)
        async with http.post(node.url + token_path, headers=auth) as issued:
            node.token = json.loads(await issued.read())["token"]
        for door, send in DOORS.items():
            for kind in KINDS:
                windows.append(await _in_window(http, node, door, kind, send))
        for kind in ADMIN_CASES:
            windows.append(await _in_window(http, node, "admin", kind, admin))
    records = audit_since(node.config, began)
    problems: list[str] = []
    for w in windows:
        expected = EXPECTED.get(w.kind) if w.door != "admin" else ADMIN_CASES[w.kind]
        if w.refused.code != expected:
            problems.append(f"{w.door} {w.kind}: answered {w.refused.code}, not {expected}")
        if not all(w.refused.messages):
            problems.append(f"{w.door} {w.kind}: answer lacks its Vietnamese or English text")
        inside = [r for r in records if w.start <= at_of(r) <= w.end]
        outcomes = [f"{r['event']}:{r['outcome']}" for r in inside]
        if outcomes != [f"rejected:{w.refused.code}"]:
            problems.append(f"{w.door} {w.kind}: audit records {outcomes}")
    assert len(windows) == 3 * len(EXPECTED) + len(ADMIN_CASES) and len(EXPECTED) == 10
    assert not problems, "\n".join(problems)


def test_the_cli_lists_the_window_only(node: Node) -> None:
    """``--since`` in the future lists nothing: the CLI filters by time, not by message."""
    future = datetime.fromtimestamp(time.time() + 3600, UTC)
    assert audit_since(node.config, future) == []
