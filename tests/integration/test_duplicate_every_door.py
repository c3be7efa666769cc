"""The same packet sent twice gets the same decision at every door, each in its own form.

One decision, in the core (DESIGN step 7): a duplicate (same sender, DocumentId and content
hash) is answered with the original receipt and stores nothing new. The native REST API
renders it ``202`` then ``200`` with ``duplicate: true`` and the same ``message_id``; VXP
answers ``OK`` with the same ``DocId`` both times; the hub SOAP door answers
``IsSuccess=true`` with the same numeric ``DocumentId``. Sent one after the other or both at
once, at one door or at two, the second send is neither lost nor delivered twice: one message,
one delivery per recipient, one inbox item, no refusal in the audit chain.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.credentials.auth import sign_request
from tests.faults.cluster import GatewayProcess, NodeConfig
from tests.hub_client import HubClient, send_document_envelope
from tests.services import RabbitMQ
from tests.vxp_client import VxpTestClient
from tests.world import G22, H14, H41, SECRETS, Pki, document

pytestmark = pytest.mark.integration

PDF = {"att1": ("application/pdf", b"%PDF-1.4\n%%EOF\n")}
RECIPIENTS = (H41, H14)


@dataclass(frozen=True)
class Node:
    url: str
    store: Path


@dataclass(frozen=True)
class Decision:
    """What a door answered to one send: accepted, the message it names, and whether it
    said "duplicate" (``None`` where its form cannot say it)."""

    accepted: bool
    message: str
    duplicate: bool | None


@pytest.fixture(scope="module")
def node(rabbitmq: RabbitMQ, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("duplicates")
    store = tmp / "store.db"
    config = NodeConfig(
        f"sqlite:///{store}", rabbitmq.url(rabbitmq.new_vhost()), tmp / "blobs", Pki.create(tmp)
    )
    process = GatewayProcess(config, tmp / "gateway.log")
    process.start()
    try:
        yield Node(process.url, store)
    finally:
        process.kill()


def query(node: Node, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(node.store, timeout=30) as db:
        return list(db.execute(sql, args).fetchall())


# -- the doors ----------------------------------------------------------------------------


async def rest(http: aiohttp.ClientSession, node: Node, packet: bytes) -> Decision:
    headers = sign_request("SYS-G22", SECRETS["SYS-G22"], "POST", "/v1/messages", packet)
    async with http.post(node.url + "/v1/messages", data=packet, headers=headers) as response:
        body = json.loads(await response.read())
        if response.status not in (200, 202):
            return Decision(False, body["error"]["code"], None)
        assert (response.status == 200) == body["duplicate"], (response.status, body)
        return Decision(True, body["message_id"], body["duplicate"])


async def vxp(http: aiohttp.ClientSession, node: Node, packet: bytes) -> Decision:
    client = VxpTestClient(http, node.url + "/vxp", "SYS-G22", SECRETS["SYS-G22"])
    answer = await client.send_edoc(packet, sender=G22)
    if answer["status"] != "OK":
        return Decision(False, f"{answer['ErrorCode']}:{answer.get('code')}", None)
    assert answer["ErrorCode"] == "0" and answer["DocId"] == answer["receipt"]["message_id"]
    return Decision(True, answer["DocId"], answer["receipt"]["duplicate"])


async def soap(http: aiohttp.ClientSession, node: Node, packet: bytes) -> Decision:
    client = HubClient(http, node.url + "/services/eDoc", G22, SECRETS["SYS-G22"])
    answer = await client.post("SendDocument", packet, PDF)
    if not answer.ok:
        return Decision(False, answer.error_codes[0], None)
    number = answer.find("DocumentId")
    assert number is not None and number.text
    return Decision(True, number.text, None)  # the hub's form has no word for "duplicate"


Door = Callable[[aiohttp.ClientSession, Node, bytes], Awaitable[Decision]]
DOORS: dict[str, Door] = {"rest": rest, "vxp": vxp, "soap": soap}
_numbers = iter(range(3000, 4000))


def packet_for(door: str) -> bytes:
    """A new packet from G22 to H41 and H14, in the door's own wire form."""
    number = str(next(_numbers))
    if door == "soap":
        return send_document_envelope(
            sender=G22,
            to=list(RECIPIENTS),
            number=number,
            key_organ=G22,
            token=SECRETS["SYS-G22"],
            attachments={"att1": "a.pdf"},
        ).encode()
    return document(number, to=RECIPIENTS)


def message_of(node: Node, door: str, decision: Decision) -> str:
    """The message id a decision names (the hub names its number)."""
    if door != "soap":
        return decision.message
    rows = query(node, "SELECT message_id FROM hub_aliases WHERE number = ?", decision.message)
    assert len(rows) == 1, rows
    return str(rows[0][0])


async def inbox_count(http: aiohttp.ClientSession, node: Node, system: str, message: str) -> int:
    """How many inbox items of ``system`` carry ``message`` (pages through the inbox)."""
    found, after = 0, ""
    while True:
        path = "/v1/inbox?limit=500" + (f"&after={after}" if after else "")
        headers = sign_request(system, SECRETS[system], "GET", path)
        async with http.get(node.url + path, headers=headers) as response:
            assert response.status == 200
            body = json.loads(await response.read())
        found += sum(1 for item in body["items"] if item["message_id"] == message)
        if len(body["items"]) < 500:
            return found
        after = body["next"]


async def assert_once(http: aiohttp.ClientSession, node: Node, message: str) -> None:
    """One stored message, one delivery per recipient, one inbox item for each recipient."""
    sender, document_id = query(
        node, "SELECT sender, document_id FROM messages WHERE id = ?", message
    )[0]
    same = query(
        node,
        "SELECT COUNT(*) FROM messages WHERE sender = ? AND document_id = ?",
        sender,
        document_id,
    )
    assert same == [(1,)], f"{document_id} stored {same[0][0]} times"
    deliveries = query(
        node, "SELECT recipient_code FROM deliveries WHERE message_id = ? ORDER BY 1", message
    )
    assert [d[0] for d in deliveries] == sorted(RECIPIENTS)
    for recipient in RECIPIENTS:
        system = {H41: "SYS-H41", H14: "SYS-H14"}[recipient]
        assert await inbox_count(http, node, system, message) == 1


def refusals(node: Node) -> int:
    return int(query(node, "SELECT COUNT(*) FROM audit_log WHERE event = 'rejected'")[0][0])


@pytest.mark.parametrize("door", list(DOORS))
async def test_a_resent_packet_is_the_original_at_every_door(
    node: Node, http: aiohttp.ClientSession, door: str
) -> None:
    send, packet = DOORS[door], packet_for(door)
    refused_before = refusals(node)
    first = await send(http, node, packet)
    second = await send(http, node, packet)
    assert first.accepted and second.accepted, (first, second)
    assert second.message == first.message  # the same message id, DocId or hub number
    if first.duplicate is not None:
        assert (first.duplicate, second.duplicate) == (False, True)
    await assert_once(http, node, message_of(node, door, first))
    assert refusals(node) == refused_before  # a duplicate is not a refusal


@pytest.mark.parametrize("door", list(DOORS))
async def test_the_same_packet_sent_twice_at_once_is_stored_and_delivered_once(
    node: Node, http: aiohttp.ClientSession, door: str
) -> None:
    send, packet = DOORS[door], packet_for(door)
    refused_before = refusals(node)
    answers = await asyncio.gather(*(send(http, node, packet) for _ in range(2)))
    assert all(a.accepted for a in answers), answers
    assert answers[0].message == answers[1].message
    if answers[0].duplicate is not None:
        assert sorted(bool(a.duplicate) for a in answers) == [False, True]
    await assert_once(http, node, message_of(node, door, answers[0]))
    assert refusals(node) == refused_before


async def test_a_packet_resent_through_another_door_is_the_same_document(
    node: Node, http: aiohttp.ClientSession
) -> None:
    """The decision is the core's, not a door's: the same bytes sent at REST, then at VXP,
    then at REST again name one message."""
    packet = packet_for("rest")
    first = await rest(http, node, packet)
    through_vxp = await vxp(http, node, packet)
    again = await rest(http, node, packet)
    assert first.accepted and through_vxp.accepted and again.accepted
    assert first.message == through_vxp.message == again.message
    assert (first.duplicate, through_vxp.duplicate, again.duplicate) == (False, True, True)
    await assert_once(http, node, first.message)
