"""Two real nodes through a hub over VXP: the VXP client, transport, poller and agency source.

Node H acts as the axis; the sending side forwards with :class:`VxpTransport`, node B pulls
with :class:`VxpPoller` and ingests through its own core. Each node has its own store and its
own RabbitMQ virtual host on the session's RabbitMQ server. The packet bytes arrive at B's
recipient unchanged (what the sender signed is what the receiver gets).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from adapters.vxp.client import (
    VxpAgencySource,
    VxpCallFailed,
    VxpClient,
    VxpPoller,
    VxpTransport,
    VxpUnreachable,
)
from adapters.vxp.upstream import UpstreamLink, upstream_ctx, upstream_transport
from edxml.build import build, status_message
from edxml.model import Organization, ResponseFor
from edxml.signature import sign
from gateway import appkeys
from gateway.auth import Caller
from gateway.delivery import DeliveryService, close_transports
from gateway.transports import MailboxTransport, PermanentDeliveryError, RetryableDeliveryError
from tests.integration.gateway_node import running_node, settings_for
from tests.pki import make_ca, make_leaf
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
    async with running_node(settings_for(tmp_path / "b", url)) as server:
        yield server


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
    from gateway.directory import agency_from_record

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
    settings = settings_for(tmp_path / "b2", rabbitmq.url(rabbitmq.new_vhost()))
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


# -- three nodes: A (province A) → H (the axis) → B (province B) ---------------------------

HUB_SECRETS = {"SYS-A": "secret-node-a", "SYS-B": "secret-node-b"}


def _peer(code: str, name: str, hub_url: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "endpoint_kind": "peer",
        "endpoint_url": hub_url,
        "endpoint_node": "hub",
    }


def _workers_with_peer(link: UpstreamLink, node: str) -> Any:
    """The delivery workers of a node whose ``peer`` deliveries go to the hub over VXP."""

    async def ctx(app: Any) -> AsyncIterator[None]:
        transports = {"mailbox": MailboxTransport(), "peer": upstream_transport(link, node=node)}
        service = DeliveryService(
            app[appkeys.ENGINE],
            app[appkeys.BLOBS],
            app[appkeys.BROKER],
            transports,
            on_parked=app[appkeys.GATEWAY].on_parked,
        )
        await service.start()
        yield
        await service.stop()
        await close_transports(transports)

    return ctx


async def _until(predicate: Any, what: str, timeout: float = WAIT_S) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


async def test_three_nodes_relay_documents_and_statuses_through_the_axis(
    tmp_path: Path, rabbitmq: RabbitMQ
) -> None:
    ca = make_ca("Test CA")
    g22_signer = make_leaf(ca, "Văn phòng Chính phủ")
    h41_signer = make_leaf(ca, "UBND tỉnh Nghệ An")
    anchors = tmp_path / "ca.pem"
    anchors.write_bytes(ca.cert_pem)
    hub_port = free_port()
    hub_url = f"http://127.0.0.1:{hub_port}/vxp"
    ladder = {"retry_ladder": [1, 2, 4, 8, 15, 30], "outbox_interval_s": 1.0}

    def node_settings(name: str, systems: list[dict[str, Any]], agencies: list[Any]) -> Any:
        (tmp_path / name).mkdir(exist_ok=True)
        return settings_for(
            tmp_path / name,
            rabbitmq.url(rabbitmq.new_vhost()),
            systems=systems,
            directory={"agencies": agencies},
            trust={"anchors": [str(anchors)]},
            amqp={"url": rabbitmq.url(rabbitmq.new_vhost()), **ladder},
        )

    hub_settings = node_settings(
        "hub",
        [
            {"id": "SYS-A", "secret": HUB_SECRETS["SYS-A"], "agencies": [G22], "policy": "strict"},
            {"id": "SYS-B", "secret": HUB_SECRETS["SYS-B"], "agencies": [H41], "policy": "strict"},
        ],
        [{"code": G22, "name": "Văn phòng Chính phủ"}, {"code": H41, "name": "UBND Nghệ An"}],
    )
    a_settings = node_settings(
        "a",
        [{"id": "SYS-G22", "secret": "g22", "agencies": [G22], "policy": "strict"}],
        [{"code": G22, "name": "Văn phòng Chính phủ"}, _peer(H41, "UBND Nghệ An", hub_url)],
    )
    b_settings = node_settings(
        "b",
        [{"id": "SYS-H41", "secret": "h41", "agencies": [H41], "policy": "strict"}],
        [{"code": H41, "name": "UBND Nghệ An"}, _peer(G22, "Văn phòng Chính phủ", hub_url)],
    )
    link_a = UpstreamLink("hub", hub_url, "SYS-A", HUB_SECRETS["SYS-A"], 0.5, "strict")
    link_b = UpstreamLink("hub", hub_url, "SYS-B", HUB_SECRETS["SYS-B"], 0.5, "strict")
    g22_clerk = Caller("SYS-G22", frozenset({G22}), "strict")
    h41_clerk = Caller("SYS-H41", frozenset({H41}), "strict")

    hub_ctx = running_node(hub_settings, port=hub_port)
    await hub_ctx.__aenter__()
    hub_running = True
    try:
        async with (
            running_node(
                a_settings,
                [_workers_with_peer(link_a, "A"), upstream_ctx(link_a)],
                with_workers=False,
            ) as node_a,
            running_node(
                b_settings,
                [_workers_with_peer(link_b, "B"), upstream_ctx(link_b)],
                with_workers=False,
            ) as node_b,
        ):
            core_a = node_a.app[appkeys.GATEWAY]
            core_b = node_b.app[appkeys.GATEWAY]

            packet = sign(document("901"), g22_signer.key, g22_signer.chain)
            receipt = await core_a.submit(packet, g22_clerk)
            assert receipt.signature["status"] == "verified"

            items = await _until(
                lambda: core_b.inbox(h41_clerk, after=None, limit=10), "the document at B"
            )
            received = await core_b.fetch(h41_clerk, items[0].message_id)
            assert received == packet, "hops never touch the signed bytes"
            signed_file = tmp_path / "received.edxml"
            signed_file.write_bytes(received)
            cli = shutil.which("edoc-gateway")
            assert cli is not None
            checked = subprocess.run(
                [cli, "validate", "--policy", "strict", "--trust", str(anchors), str(signed_file)],
                capture_output=True,
                timeout=120,
                check=False,
            )
            assert checked.returncode == 0, checked.stdout + checked.stderr
            await core_b.ack(h41_clerk, items[0].message_id)

            document_id = f"{G22},2024/01/05,901/VPCP-TTĐT"
            for code in (1, 3, 5, 6):
                status = status_message(
                    sender=Organization(organ_id=H41, organ_name="UBND Nghệ An"),
                    document=ResponseFor(organ_id=G22, document_id=document_id),
                    code=code,
                    timestamp=datetime(2024, 1, 6, 9, code, 0),
                )
                signed = sign(build(status), h41_signer.key, h41_signer.chain)
                await core_b.submit(signed, h41_clerk)

                async def arrived(wanted: str = f"{code:02d}") -> bool:
                    trace = await core_a.trace(g22_clerk, receipt.message_id)
                    return any(s["status_code"] == wanted for s in trace.statuses)

                await _until(arrived, f"status {code:02d} back at A")
            trace = (await core_a.trace(g22_clerk, receipt.message_id)).as_dict()
            assert [s["status_code"] for s in trace["statuses"]] == ["01", "03", "05", "06"]

            # The axis goes down for a while: A keeps the delivery and retries; nothing is lost.
            await hub_ctx.__aexit__(None, None, None)
            hub_running = False
            second = sign(document("902"), g22_signer.key, g22_signer.chain)
            await core_a.submit(second, g22_clerk)
            await asyncio.sleep(3)
            hub_ctx = running_node(hub_settings, port=hub_port)
            await hub_ctx.__aenter__()
            hub_running = True

            async def second_arrived() -> bool:
                waiting = await core_b.inbox(h41_clerk, after=None, limit=10)
                bodies = [await core_b.fetch(h41_clerk, i.message_id) for i in waiting]
                return second in bodies

            await _until(second_arrived, "the document sent while the axis was down", 180.0)
    finally:
        if hub_running:
            await hub_ctx.__aexit__(None, None, None)


async def test_hops_travel_beside_the_packet_in_the_signed_request(hub: TestServer) -> None:
    client = hub_client(hub, "SYS-G22")
    hop = {"node": "A", "received_at": "2024-01-05T01:00:00+00:00", "forwarded_at": "x"}
    try:
        answer = await client.call(
            "sendEdoc",
            {"from": G22, "servicetype": "eDoc", "messagetype": "edoc", "hops": json.dumps([hop])},
            body=document("805"),
        )
        assert answer["hops"] == [hop]
        with pytest.raises(VxpCallFailed) as caught:
            await client.call("sendEdoc", {"hops": "{not json"}, body=document("806"))
        assert caught.value.error_code == "10"
    finally:
        await client.close()
