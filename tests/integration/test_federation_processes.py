"""Three gateway processes federated over VXP: A (province A) → H (the axis) → B (province B).

A document crosses the three processes and its statuses come back; the receiving node
verifies signatures itself, whatever the axis let through. The nodes are built in
``federation_node.py``; the axis killed and restarted is ``test_federation_axis_restart.py``.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.faults.cluster import stored_count
from tests.integration.federation_node import NODE_A, NODE_B, NODE_H, Federation
from tests.integration.federation_steps import (
    arrived_at_b,
    cli_trace,
    document_id,
    hop_nodes,
    id_at_h,
    inbox_at_b,
    send_at_a,
    send_status_at_b,
    statuses_at_a,
    until,
)

pytestmark = pytest.mark.integration


async def test_a_document_crosses_three_processes_and_its_statuses_come_back(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    fed = federation
    sent_id, packet = await send_at_a(fed, http, "901")
    at_b = await arrived_at_b(fed, http, ["901"])
    b_id = at_b[document_id("901")]

    # What A's system signed is what B's system gets; B verified it itself (strict link).
    status, _, received = await fed.b.call(http, "SYS-H41", "GET", f"/v1/messages/{b_id}")
    assert status == 200
    assert received == packet, "hops travel beside the packet, never inside it"
    b_trace = await fed.b.trace(http, "SYS-H41", b_id)
    assert b_trace["message"]["signature_status"] == "verified"
    assert hop_nodes(b_trace) == [NODE_A, NODE_H], b_trace["hops"]
    assert {h["reported_by"] for h in b_trace["hops"]} == {"upstream:hub"}
    assert all(h["received_at"] and h["forwarded_at"] for h in b_trace["hops"])
    h_id = await id_at_h(fed, http, "901")
    h_trace = await fed.h.trace(http, "SYS-A", h_id)
    assert hop_nodes(h_trace) == [NODE_A] and h_trace["hops"][0]["reported_by"] == "SYS-A"
    assert h_trace["hops"][0]["via"] == "vxp", "the signed sendEdoc header"
    assert (await fed.a.trace(http, "SYS-G22", sent_id))["hops"] == [], "A is the origin"
    assert len({sent_id, h_id, b_id}) == 3, "each node keeps its own message id"

    # One virtual host, three namespaces: every queue carries its node's prefix.
    listed = await asyncio.to_thread(
        fed.rabbitmq.ctl, "list_queues", "-q", "--no-table-headers", "-p", fed.vhost, "name"
    )
    queues = [line.strip() for line in listed.splitlines() if line.strip()]
    prefixes = tuple(f"{node}." for node in (NODE_A, NODE_H, NODE_B))
    for prefix in prefixes:
        assert any(q.startswith(prefix) for q in queues), (prefix, queues)
    assert all(q.startswith(prefixes) for q in queues), queues

    cli = cli_trace(fed.b, b_id)
    assert hop_nodes(cli) == [NODE_A, NODE_H] and cli["message"]["id"] == b_id

    # B's system acknowledges (B's node sends 01; H sent its own 01 when B pulled).
    status, _, raw = await fed.b.call(http, "SYS-H41", "POST", f"/v1/messages/{b_id}/ack")
    assert status == 200, raw

    async def two_arrivals() -> bool:
        return (await statuses_at_a(fed, http, sent_id)).count("01") == 2

    await until(two_arrivals, "01 from H (pulled) and from B (fetched) at A")
    for code in (3, 5, 6):
        await send_status_at_b(fed, http, "901", code)

        async def arrived(wanted: str = f"{code:02d}") -> bool:
            return wanted in await statuses_at_a(fed, http, sent_id)

        await until(arrived, f"status {code:02d} back at A")
    assert await statuses_at_a(fed, http, sent_id) == ["01", "01", "03", "05", "06"]


async def test_the_receiving_node_verifies_signatures_itself(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    fed = federation
    # H admits A under the legacy policy and relays an unsigned document; B's strict link
    # refuses it (answered "fail" upstream: H's delivery to B's agency is failed).
    unsigned_id, _ = await send_at_a(fed, http, "921", signed=False)
    await send_at_a(fed, http, "922")
    await arrived_at_b(fed, http, ["922"])
    h_id = await id_at_h(fed, http, "921")

    async def refused_at_b() -> bool:
        trace = await fed.h.trace(http, "SYS-A", h_id)
        return {d["state"] for d in trace["deliveries"]} == {"failed"}

    await until(refused_at_b, "B refusing the unsigned document")
    assert document_id("921") not in await inbox_at_b(fed, http)

    async def audited_at_b() -> bool:
        sql = (
            "SELECT COUNT(*) FROM audit_log WHERE event = 'rejected' "
            "AND actor = 'upstream:hub' AND outcome = 'SIGNATURE_ABSENT'"
        )
        return await stored_count(fed.b.store_url(), sql) >= 1

    await until(audited_at_b, "B's audit record of the refusal")
    a_trace = await fed.a.trace(http, "SYS-G22", unsigned_id)
    assert a_trace["message"]["signature_status"] != "verified"
