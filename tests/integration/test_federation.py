"""Two real nodes through a hub over VXP: the VXP client, transport, poller and agency source.

Node H acts as the axis; the sending side forwards with :class:`VxpTransport`, node B pulls
with :class:`VxpPoller` and ingests through its own core. Each node has its own store and its
own RabbitMQ virtual host on the session's RabbitMQ server. The packet bytes arrive at B's
recipient unchanged (what the sender signed is what the receiver gets).

These drive the client classes one call at a time, against nodes in this test process; the
three-node federation as three OS processes (A → H → B, hops, statuses, a SIGKILLed axis,
strict verification at B) is ``test_federation_processes.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import text

from adapters.vxp.client import (
    VxpAgencySource,
    VxpCallFailed,
    VxpClient,
    VxpPoller,
    VxpTransport,
    VxpUnreachable,
)
from adapters.vxp.upstream import UpstreamLink, upstream_ctx
from gateway import appkeys
from gateway.audit import batch as audit_batch
from gateway.credentials.auth import Caller
from gateway.delivery.transports import PermanentDeliveryError, RetryableDeliveryError
from tests.integration.gateway_node import running_node, settings_for
from tests.services import RabbitMQ, free_port
from tests.world import G22, H41, SECRETS, document

pytestmark = pytest.mark.integration

WAIT_S = 90.0


@pytest.fixture
async def hub(tmp_path: Path, rabbitmq: RabbitMQ) -> AsyncIterator[TestServer]:
    url = rabbitmq.url(rabbitmq.new_vhost())
    (tmp_path / "hub").mkdir()
    async with running_node(settings_for(tmp_path / "hub", url)) as server:
        yield server


@pytest.fixture
async def node_b(tmp_path: Path, rabbitmq: RabbitMQ) -> AsyncIterator[TestServer]:
    url = rabbitmq.url(rabbitmq.new_vhost())
    (tmp_path / "b").mkdir()
    async with running_node(node_b_settings(tmp_path / "b", url)) as server:
        yield server


def node_b_settings(tmp: Path, amqp_url: str) -> Any:
    """Node B's settings: its own node code (H41), as every node of a federation has; the
    hub is G22. A path naming a node's own code is a routing loop."""
    node = {"code": H41, "key_file": str(tmp / "absent.key"), "cert_file": str(tmp / "absent.crt")}
    return settings_for(tmp, amqp_url, node=node)


def hub_client(hub: TestServer, system: str, **kw: Any) -> VxpClient:
    return VxpClient(str(hub.make_url("/vxp")), system, SECRETS[system], **kw)


def stub_delivery(packet_kind: str = "document") -> tuple[Any, Any]:
    delivery = SimpleNamespace(id="d1", resolved_code=H41, recipient_code=H41)
    message = SimpleNamespace(id="m1", kind=packet_kind, sender=G22)
    return delivery, message


async def test_document_relayed_through_the_hub_arrives_byte_for_byte(
    hub: TestServer, node_b: TestServer
) -> None:
    packet = document("801")
    sender_link = hub_client(hub, "SYS-G22")
    receiver_link = hub_client(hub, "SYS-H41")
    b_core = node_b.app[appkeys.GATEWAY]
    upstream = Caller("upstream-hub", frozenset({G22}), "legacy")
    poller = VxpPoller(receiver_link, b_core, upstream, messagetypes=("edoc",))
    try:
        await VxpTransport(sender_link).deliver(*_with_packet(packet))

        deadline = asyncio.get_running_loop().time() + WAIT_S
        while await poller.poll_once() == 0:
            assert asyncio.get_running_loop().time() < deadline, "hub never offered it"
            await asyncio.sleep(0.3)
        assert await receiver_link.get_received_edoc_list() == [], "acknowledged at the hub"

        clerk = Caller("SYS-H41", frozenset({H41}), "legacy")
        while not (items := await b_core.inbox(clerk, after=None, limit=10)):
            assert asyncio.get_running_loop().time() < deadline, "never delivered at B"
            await asyncio.sleep(0.3)
        assert items[0].sender == G22
        assert await b_core.fetch(clerk, items[0].message_id) == packet
    finally:
        await sender_link.close()
        await receiver_link.close()


def _with_packet(packet: bytes) -> tuple[Any, bytes, Any]:
    delivery, message = stub_delivery()
    return delivery, packet, message


async def test_refused_forward_is_permanent(hub: TestServer) -> None:
    wrong = VxpClient(str(hub.make_url("/vxp")), "SYS-H41", SECRETS["SYS-H41"], attempts=3)
    try:
        delivery, message = stub_delivery()
        with pytest.raises(PermanentDeliveryError, match="ErrorCode 19"):
            await VxpTransport(wrong).deliver(delivery, document("802"), message)
    finally:
        await wrong.close()


async def test_unreachable_upstream_is_retryable_after_bounded_attempts() -> None:
    dead = VxpClient(
        f"http://127.0.0.1:{free_port()}/vxp", "SYS-G22", "x", attempts=2, max_wait_s=0.1
    )
    try:
        with pytest.raises(VxpUnreachable):
            await dead.get_agencies_list()
        delivery, message = stub_delivery()
        with pytest.raises(RetryableDeliveryError):
            await VxpTransport(dead).deliver(delivery, b"<x/>", message)
    finally:
        await dead.close()


async def test_credential_failure_is_not_retried(hub: TestServer) -> None:
    client = VxpClient(str(hub.make_url("/vxp")), "SYS-G22", "wrong", attempts=5)
    try:
        with pytest.raises(VxpCallFailed) as caught:
            await client.get_agencies_list()
        assert caught.value.error_code == "15"
    finally:
        await client.close()


async def test_refused_ingest_is_answered_fail_upstream(
    hub: TestServer, node_b: TestServer
) -> None:
    sender_link = hub_client(hub, "SYS-G22")
    receiver_link = hub_client(hub, "SYS-H41")
    # B's upstream caller may not speak for G22: B refuses, the hub item is answered "fail".
    poller = VxpPoller(
        receiver_link,
        node_b.app[appkeys.GATEWAY],
        Caller("upstream-hub", frozenset(), "legacy"),
        messagetypes=("edoc",),
    )
    try:
        await sender_link.send_edoc(document("803"), sender=G22)
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while await poller.poll_once() == 0:
            assert asyncio.get_running_loop().time() < deadline, "hub never offered it"
            await asyncio.sleep(0.3)
        assert await receiver_link.get_received_edoc_list() == []
    finally:
        await sender_link.close()
        await receiver_link.close()


async def test_agency_source_reads_the_hub_directory(hub: TestServer) -> None:
    client = hub_client(hub, "SYS-G22")
    try:
        records = await VxpAgencySource(client, node="hub").fetch()
    finally:
        await client.close()
    by_code = {r["code"]: r for r in records}
    assert by_code[G22]["old_code"] == "G22"
    assert by_code[H41]["endpoint_kind"] == "peer"
    assert by_code[H41]["endpoint_node"] == "hub"
    from gateway.directory.resolver import agency_from_record

    assert agency_from_record(by_code[H41]).endpoint.kind == "peer"


async def test_upstream_context_polls_and_ingests_by_itself(
    tmp_path: Path, rabbitmq: RabbitMQ, hub: TestServer
) -> None:
    link = UpstreamLink(
        name="hub",
        url=str(hub.make_url("/vxp")),
        system_id="SYS-H41",
        secret=SECRETS["SYS-H41"],
        poll_interval_s=0.5,
        extra_agencies=(G22,),
    )
    (tmp_path / "b2").mkdir()
    settings = node_b_settings(tmp_path / "b2", rabbitmq.url(rabbitmq.new_vhost()))
    packet = document("804")
    sender_link = hub_client(hub, "SYS-G22")
    try:
        async with running_node(settings, [upstream_ctx(link)]) as node:
            await sender_link.send_edoc(packet, sender=G22)
            core = node.app[appkeys.GATEWAY]
            clerk = Caller("SYS-H41", frozenset({H41}), "legacy")
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while not (items := await core.inbox(clerk, after=None, limit=10)):
                assert asyncio.get_running_loop().time() < deadline, "never pulled"
                await asyncio.sleep(0.3)
            assert await core.fetch(clerk, items[0].message_id) == packet
    finally:
        await sender_link.close()


async def test_hops_travel_beside_the_packet_and_are_stored_and_sent_on(hub: TestServer) -> None:
    client = hub_client(hub, "SYS-G22")
    receiver = hub_client(hub, "SYS-H41")
    hop = {"node": "A", "received_at": "2024-01-05T01:00:00+00:00", "forwarded_at": "x"}
    try:
        answer = await client.call(
            "sendEdoc",
            {"from": G22, "servicetype": "eDoc", "messagetype": "edoc", "hops": json.dumps([hop])},
            body=document("805"),
        )
        assert answer["hops"] == [hop]
        core = hub.app[appkeys.GATEWAY]
        trace = (await core.trace(Caller("SYS-G22", frozenset({G22})), answer["DocId"])).as_dict()
        assert [(h["node"], h["reported_by"], h["via"]) for h in trace["hops"]] == [
            ("A", "SYS-G22", "vxp")
        ]
        # The node pulling it gets the path and the hub's own hop beside the packet.
        packet, hops = await receiver.get_edoc_with_hops(answer["DocId"])
        assert packet == document("805")
        assert [h.node for h in hops] == ["A", G22]  # the hub node's code (settings_for)
        assert hops[0].wire() == hop and hops[1].forwarded_at is not None
        with pytest.raises(VxpCallFailed) as caught:
            await client.call("sendEdoc", {"hops": "{not json"}, body=document("806"))
        assert caught.value.error_code == "10"
    finally:
        await client.close()
        await receiver.close()


async def test_a_path_that_already_passed_this_node_is_a_routing_loop(hub: TestServer) -> None:
    """A relayed packet whose path names this node came round a loop of routes: refused
    (ROUTING_LOOP, audited once), not accepted again to go round until the hop limit."""
    client = hub_client(hub, "SYS-G22")
    engine = hub.app[appkeys.ENGINE]
    loop = [{"node": "A"}, {"node": G22.lower()}, {"node": "B"}]  # this node, any case
    send = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"}

    async def counts() -> tuple[int, list[str]]:
        async with engine.connect() as conn:
            messages = await conn.scalar(text("SELECT count(*) FROM messages"))
            refused = await conn.execute(
                text("SELECT outcome FROM audit_log WHERE event = 'rejected' ORDER BY seq")
            )
            return int(messages or 0), [row[0] for row in refused]

    before = await counts()
    try:
        with pytest.raises(VxpCallFailed) as caught:
            await client.call(
                "sendEdoc",
                {**send, "hops": json.dumps(loop)},
                body=document("807"),
            )
        assert caught.value.error_code == "10"
        assert "vòng lặp" in caught.value.description and "loop" in caught.value.description
        await audit_batch.flush(engine)
        after = await counts()
        assert after[0] == before[0], "nothing stored"
        assert after[1] == [*before[1], "ROUTING_LOOP"]
        # The same document with a path that does not come back here is accepted.
        answer = await client.call(
            "sendEdoc",
            {**send, "hops": json.dumps(loop[:1])},
            body=document("807"),
        )
        assert answer["DocId"]
    finally:
        await client.close()
