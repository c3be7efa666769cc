"""Three gateway processes federated over VXP: A (province A) → H (the axis) → B (province B).

Each node is ``edoc-gateway serve`` in its own OS process (``tests/faults/cluster.py``),
with its own configuration (``EDOC_`` variables), SQLite store, blob directory and node key
(one test CA issues every key, as the national CA would). The three share ONE RabbitMQ
virtual host, each in its own topology namespace (the default prefix: its node code). A and
B name H as their ``upstream``: A forwards what is addressed to B's agency to H
(``sendEdoc``, the path in the signed ``hops`` header), B pulls what H holds for it
(``getEdoc``, the path beside the packet) and statuses travel back the same way.

H admits its member nodes under the ``legacy`` policy; B's link to H is ``strict``: B
verifies every packet's signature itself and refuses what does not verify, whatever H let
through.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edxml.build import build, status_message
from edxml.model import Organization, ResponseFor
from edxml.signature import sign
from gateway.credentials.auth import sign_request
from tests.faults.cluster import REPO, GatewayProcess, NodeConfig, stored_count
from tests.pki import Credential, make_ca, make_leaf, write_pems
from tests.services import RabbitMQ, free_port
from tests.world import G22, H41, Pki, document

pytestmark = pytest.mark.integration

NODE_A, NODE_H, NODE_B = "000.00.00.A00", "000.00.00.H00", "000.00.00.B00"
SECRETS = {"SYS-G22": "g22-secret", "SYS-H41": "h41-secret", "SYS-A": "a-at-h", "SYS-B": "b-at-h"}
WAIT_S = 120.0
LADDER = [1, 2, 4, 8, 15, 30, 60]  # A keeps retrying the axis for minutes, never parks early


def _system(system_id: str, agency: str, policy: str) -> dict[str, Any]:
    return {"id": system_id, "secret": SECRETS[system_id], "agencies": [agency], "policy": policy}


def _peer(code: str, name: str, hub_vxp: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "endpoint_kind": "peer",
        "endpoint_url": hub_vxp,
        "endpoint_node": "hub",
    }


def _upstream(system_id: str, hub_vxp: str) -> dict[str, Any]:
    return {
        "name": "hub",
        "url": hub_vxp,
        "system_id": system_id,
        "secret": SECRETS[system_id],
        "poll_interval_s": 0.5,
        "policy": "strict",
    }


@dataclass
class Node:
    """One gateway process of the federation and its native API."""

    name: str
    process: GatewayProcess
    config: NodeConfig

    async def call(
        self, http: aiohttp.ClientSession, system: str, method: str, path: str, body: bytes = b""
    ) -> tuple[int, Any, bytes]:
        """One signed native API call as ``system``: (status, JSON or None, raw body)."""
        headers = sign_request(system, SECRETS[system], method, path, body)
        async with http.request(
            method,
            self.process.url + path,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=60),
        ) as response:
            raw = await response.read()
            try:
                return response.status, json.loads(raw), raw
            except ValueError:
                return response.status, None, raw

    async def trace(self, http: aiohttp.ClientSession, system: str, message_id: str) -> Any:
        """The REST trace of a message, as ``system`` sees it."""
        status, answer, raw = await self.call(
            http, system, "GET", f"/v1/messages/{message_id}/trace"
        )
        assert status == 200, raw
        return answer

    def store_url(self) -> str:
        """The node's SQLite store."""
        return self.config.store_url


@dataclass
class Federation:
    """The three nodes, the CA and the agency signers."""

    a: Node
    h: Node
    b: Node
    g22_signer: Credential
    h41_signer: Credential
    rabbitmq: RabbitMQ
    vhost: str


def _node(
    tmp: Path,
    name: str,
    code: str,
    ca: Credential,
    signer: Credential,
    amqp_url: str,
    *,
    port: int,
    systems: list[dict[str, Any]],
    agencies: list[dict[str, Any]],
    upstream: dict[str, Any] | None,
) -> Node:
    home = tmp / name
    paths = write_pems(home / "pki", ca=ca, node=make_leaf(ca, f"edoc node {name}"))
    pki = Pki(home / "pki", paths, signer, ca)
    extra: dict[str, Any] = {
        "NODE": {
            "code": code,
            "name": f"edoc-gateway {name}",
            "key_file": str(paths["node.key"]),
            "cert_file": str(paths["node.chain"]),
        },
        "AMQP": {
            "url": amqp_url,
            "retry_ladder": LADDER,
            "outbox_interval_s": 1.0,
            "outbox_older_than_s": 1.0,
        },
        "SYSTEMS": systems,
        "DIRECTORY": {"agencies": agencies},
        "LOG_LEVEL": "info",
    }
    if upstream is not None:
        extra["UPSTREAM"] = upstream
    config = NodeConfig(
        store_url=f"sqlite:///{home / 'store.db'}",
        amqp_url=amqp_url,
        blob_dir=home / "blobs",
        pki=pki,
        port=port,
        extra=extra,
    )
    return Node(name, GatewayProcess(config, tmp / f"{name}.log"), config)


@pytest.fixture
def federation(tmp_path: Path, rabbitmq: RabbitMQ) -> Iterator[Federation]:
    ca = make_ca("National Test CA")
    g22_signer = make_leaf(ca, "Văn phòng Chính phủ")
    h41_signer = make_leaf(ca, "UBND tỉnh Nghệ An")
    vhost = rabbitmq.new_vhost()
    amqp_url = rabbitmq.url(vhost)  # one virtual host for all three
    hub_port = free_port()
    hub_vxp = f"http://127.0.0.1:{hub_port}/vxp"
    g22 = {"code": G22, "name": "Văn phòng Chính phủ"}
    h41 = {"code": H41, "name": "UBND tỉnh Nghệ An"}
    common = (ca, g22_signer, amqp_url)
    h = _node(
        tmp_path,
        "h",
        NODE_H,
        *common,
        port=hub_port,
        systems=[_system("SYS-A", G22, "legacy"), _system("SYS-B", H41, "legacy")],
        agencies=[g22, h41],
        upstream=None,
    )
    a = _node(
        tmp_path,
        "a",
        NODE_A,
        *common,
        port=free_port(),
        systems=[_system("SYS-G22", G22, "legacy")],
        agencies=[g22, _peer(H41, "UBND tỉnh Nghệ An", hub_vxp)],
        upstream=_upstream("SYS-A", hub_vxp),
    )
    b = _node(
        tmp_path,
        "b",
        NODE_B,
        *common,
        port=free_port(),
        systems=[_system("SYS-H41", H41, "strict")],
        agencies=[h41, _peer(G22, "Văn phòng Chính phủ", hub_vxp)],
        upstream=_upstream("SYS-B", hub_vxp),
    )
    nodes = (h, a, b)
    try:
        for node in nodes:
            node.process.start(wait=False)
        for node in nodes:
            node.process.wait_ready()
        yield Federation(a, h, b, g22_signer, h41_signer, rabbitmq, vhost)
    finally:
        for node in nodes:
            node.process.kill()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _until(
    predicate: Callable[[], Awaitable[Any]], what: str, timeout: float = WAIT_S
) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


def _document_id(number: str) -> str:
    return f"{G22},2024/01/05,{number}/VPCP-TTĐT"


async def _send(
    fed: Federation, http: aiohttp.ClientSession, number: str, *, signed: bool = True
) -> tuple[str, bytes]:
    """Submit document ``number`` at A as its system; return A's message id and the bytes."""
    packet = document(number)
    if signed:
        packet = sign(packet, fed.g22_signer.key, fed.g22_signer.chain)
    status, receipt, raw = await fed.a.call(http, "SYS-G22", "POST", "/v1/messages", packet)
    assert status == 202, raw
    return str(receipt["message_id"]), packet


async def _inbox_at_b(fed: Federation, http: aiohttp.ClientSession) -> dict[str, dict[str, Any]]:
    """B's waiting items by DocumentId (and the count of each, to see a double)."""
    status, answer, raw = await fed.b.call(http, "SYS-H41", "GET", "/v1/inbox")
    assert status == 200, raw
    seen: dict[str, dict[str, Any]] = {}
    for item in answer["items"]:
        entry = seen.setdefault(item["document_id"], {"count": 0})
        entry["count"] += 1
        entry["message_id"] = item["message_id"]
    return seen


async def _arrived_at_b(
    fed: Federation, http: aiohttp.ClientSession, numbers: list[str], timeout: float = WAIT_S
) -> dict[str, str]:
    wanted = {_document_id(n) for n in numbers}

    async def all_there() -> dict[str, dict[str, Any]] | None:
        seen = await _inbox_at_b(fed, http)
        return seen if wanted <= set(seen) else None

    seen = await _until(all_there, f"documents {numbers} at B", timeout)
    assert all(seen[d]["count"] == 1 for d in wanted), seen
    return {d: seen[d]["message_id"] for d in wanted}


def _nodes(trace: dict[str, Any]) -> list[str]:
    return [hop["node"] for hop in trace["hops"]]


async def _statuses_at_a(
    fed: Federation, http: aiohttp.ClientSession, message_id: str
) -> list[str]:
    trace = await fed.a.trace(http, "SYS-G22", message_id)
    return [s["status_code"] for s in trace["statuses"]]


async def _send_status(
    fed: Federation, http: aiohttp.ClientSession, number: str, code: int
) -> None:
    packet = status_message(
        sender=Organization(organ_id=H41, organ_name="UBND tỉnh Nghệ An"),
        document=ResponseFor(organ_id=G22, document_id=_document_id(number)),
        code=code,
        timestamp=datetime.now().replace(microsecond=0),
    )
    signed = sign(build(packet), fed.h41_signer.key, fed.h41_signer.chain)
    status, _, raw = await fed.b.call(http, "SYS-H41", "POST", "/v1/messages", signed)
    assert status == 202, raw


def _cli_trace(node: Node, message_id: str) -> dict[str, Any]:
    """``edoc-gateway messages trace ID --json`` on the node's host (its configuration)."""
    code = "from gateway.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "messages", "trace", message_id, "--json"],
        env=node.config.env(),
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


async def test_a_document_crosses_three_processes_and_its_statuses_come_back(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    fed = federation
    sent_id, packet = await _send(fed, http, "901")
    at_b = await _arrived_at_b(fed, http, ["901"])
    b_id = at_b[_document_id("901")]

    # What A's system signed is what B's system gets; B verified it itself (strict link).
    status, _, received = await fed.b.call(http, "SYS-H41", "GET", f"/v1/messages/{b_id}")
    assert status == 200
    assert received == packet, "hops travel beside the packet, never inside it"
    b_trace = await fed.b.trace(http, "SYS-H41", b_id)
    assert b_trace["message"]["signature_status"] == "verified"
    assert _nodes(b_trace) == [NODE_A, NODE_H], b_trace["hops"]
    assert {h["reported_by"] for h in b_trace["hops"]} == {"upstream:hub"}
    assert all(h["received_at"] and h["forwarded_at"] for h in b_trace["hops"])
    h_id = await _id_at_h(fed, http, "901")
    h_trace = await fed.h.trace(http, "SYS-A", h_id)
    assert _nodes(h_trace) == [NODE_A] and h_trace["hops"][0]["reported_by"] == "SYS-A"
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

    cli = _cli_trace(fed.b, b_id)
    assert _nodes(cli) == [NODE_A, NODE_H] and cli["message"]["id"] == b_id

    # B's system acknowledges (B's node sends 01; H sent its own 01 when B pulled).
    status, _, raw = await fed.b.call(http, "SYS-H41", "POST", f"/v1/messages/{b_id}/ack")
    assert status == 200, raw

    async def two_arrivals() -> bool:
        return (await _statuses_at_a(fed, http, sent_id)).count("01") == 2

    await _until(two_arrivals, "01 from H (pulled) and from B (fetched) at A")
    for code in (3, 5, 6):
        await _send_status(fed, http, "901", code)

        async def arrived(wanted: str = f"{code:02d}") -> bool:
            return wanted in await _statuses_at_a(fed, http, sent_id)

        await _until(arrived, f"status {code:02d} back at A")
    assert await _statuses_at_a(fed, http, sent_id) == ["01", "01", "03", "05", "06"]


async def _id_at_h(fed: Federation, http: aiohttp.ClientSession, number: str) -> str:
    status, answer, raw = await fed.h.call(http, "SYS-A", "GET", "/v1/sent")
    assert status == 200, raw
    ids = [i["message_id"] for i in answer["items"] if i["document_id"] == _document_id(number)]
    assert len(ids) == 1, answer
    return str(ids[0])


async def test_the_axis_killed_and_restarted_loses_nothing(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    fed = federation
    # 1. H is gone (SIGKILL) while A sends: A keeps the deliveries and retries.
    fed.h.process.kill()
    while_down = ["911", "912"]
    for number in while_down:
        await _send(fed, http, number)
    await asyncio.sleep(3)
    fed.h.process.start()
    await _arrived_at_b(fed, http, while_down, 180.0)

    # 2. H is killed holding documents it accepted and B has not pulled (B is stopped).
    fed.b.process.stop()
    held = ["913", "914", "915"]
    ids = [(await _send(fed, http, number))[0] for number in held]

    async def forwarded() -> bool:
        for message_id in ids:
            trace = await fed.a.trace(http, "SYS-G22", message_id)
            if {d["state"] for d in trace["deliveries"]} != {"delivered"}:
                return False
        return True

    await _until(forwarded, "A's deliveries accepted by H")
    fed.h.process.kill()
    fed.h.process.start()
    fed.b.process.start()
    at_b = await _arrived_at_b(fed, http, while_down + held, 180.0)
    for message_id in at_b.values():
        assert _nodes(await fed.b.trace(http, "SYS-H41", message_id)) == [NODE_A, NODE_H]
    doubled = await stored_count(
        fed.b.store_url(),
        "SELECT COUNT(*) FROM (SELECT document_id FROM messages WHERE kind = 'document' "
        "GROUP BY sender, document_id HAVING COUNT(*) > 1) AS d",
    )
    assert doubled == 0
    hops_at_h = await stored_count(fed.h.store_url(), "SELECT COUNT(*) FROM message_hops")
    assert hops_at_h == len(while_down + held), "one hop (A) per document, kept across SIGKILL"


async def test_the_receiving_node_verifies_signatures_itself(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    fed = federation
    # H admits A under the legacy policy and relays an unsigned document; B's strict link
    # refuses it (answered "fail" upstream: H's delivery to B's agency is failed).
    unsigned_id, _ = await _send(fed, http, "921", signed=False)
    await _send(fed, http, "922")
    await _arrived_at_b(fed, http, ["922"])
    h_id = await _id_at_h(fed, http, "921")

    async def refused_at_b() -> bool:
        trace = await fed.h.trace(http, "SYS-A", h_id)
        return {d["state"] for d in trace["deliveries"]} == {"failed"}

    await _until(refused_at_b, "B refusing the unsigned document")
    assert _document_id("921") not in await _inbox_at_b(fed, http)

    async def audited_at_b() -> bool:
        sql = (
            "SELECT COUNT(*) FROM audit_log WHERE event = 'rejected' "
            "AND actor = 'upstream:hub' AND outcome = 'SIGNATURE_ABSENT'"
        )
        return await stored_count(fed.b.store_url(), sql) >= 1

    await _until(audited_at_b, "B's audit record of the refusal")
    a_trace = await fed.a.trace(http, "SYS-G22", unsigned_id)
    assert a_trace["message"]["signature_status"] != "verified"
