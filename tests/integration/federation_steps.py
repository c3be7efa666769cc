"""The steps the federation tests take on the three nodes of ``federation_node.py``: send
at A, wait for arrivals at B, send statuses back from B, read traces, hops and the CLI.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp

from edxml.build import build, status_message
from edxml.model import Organization, ResponseFor
from edxml.signature import sign
from tests.faults.cluster import REPO
from tests.integration.federation_node import WAIT_S, Federation, Node
from tests.world import G22, H41, document


async def until(predicate: Callable[[], Awaitable[Any]], what: str, timeout: float = WAIT_S) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


def document_id(number: str) -> str:
    """The DocumentId of document ``number`` from G22."""
    return f"{G22},2024/01/05,{number}/VPCP-TTĐT"


async def send_at_a(
    fed: Federation, http: aiohttp.ClientSession, number: str, *, signed: bool = True
) -> tuple[str, bytes]:
    """Submit document ``number`` at A as its system; return A's message id and the bytes."""
    packet = document(number)
    if signed:
        packet = sign(packet, fed.g22_signer.key, fed.g22_signer.chain)
    status, receipt, raw = await fed.a.call(http, "SYS-G22", "POST", "/v1/messages", packet)
    assert status == 202, raw
    return str(receipt["message_id"]), packet


async def inbox_at_b(fed: Federation, http: aiohttp.ClientSession) -> dict[str, dict[str, Any]]:
    """B's waiting items by DocumentId (and the count of each, to see a double)."""
    status, answer, raw = await fed.b.call(http, "SYS-H41", "GET", "/v1/inbox")
    assert status == 200, raw
    seen: dict[str, dict[str, Any]] = {}
    for item in answer["items"]:
        entry = seen.setdefault(item["document_id"], {"count": 0})
        entry["count"] += 1
        entry["message_id"] = item["message_id"]
    return seen


async def arrived_at_b(
    fed: Federation, http: aiohttp.ClientSession, numbers: list[str], timeout: float = WAIT_S
) -> dict[str, str]:
    """Wait until every document of ``numbers`` is at B, once each; their ids at B."""
    wanted = {document_id(n) for n in numbers}

    async def all_there() -> dict[str, dict[str, Any]] | None:
        seen = await inbox_at_b(fed, http)
        return seen if wanted <= set(seen) else None

    seen = await until(all_there, f"documents {numbers} at B", timeout)
    assert all(seen[d]["count"] == 1 for d in wanted), seen
    return {d: seen[d]["message_id"] for d in wanted}


def hop_nodes(trace: dict[str, Any]) -> list[str]:
    """The node codes of a trace's hops, in order."""
    return [hop["node"] for hop in trace["hops"]]


async def statuses_at_a(fed: Federation, http: aiohttp.ClientSession, message_id: str) -> list[str]:
    """The status codes A's system sees for its message, in order."""
    trace = await fed.a.trace(http, "SYS-G22", message_id)
    return [s["status_code"] for s in trace["statuses"]]


async def send_status_at_b(
    fed: Federation, http: aiohttp.ClientSession, number: str, code: int
) -> None:
    """B's system sends status ``code`` for document ``number`` back to G22."""
    packet = status_message(
        sender=Organization(organ_id=H41, organ_name="UBND tỉnh Nghệ An"),
        document=ResponseFor(organ_id=G22, document_id=document_id(number)),
        code=code,
        timestamp=datetime.now().replace(microsecond=0),
    )
    signed = sign(build(packet), fed.h41_signer.key, fed.h41_signer.chain)
    status, _, raw = await fed.b.call(http, "SYS-H41", "POST", "/v1/messages", signed)
    assert status == 202, raw


def cli_trace(node: Node, message_id: str) -> dict[str, Any]:
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


async def id_at_h(fed: Federation, http: aiohttp.ClientSession, number: str) -> str:
    """H's message id of document ``number`` (as SYS-A sent it)."""
    status, answer, raw = await fed.h.call(http, "SYS-A", "GET", "/v1/sent")
    assert status == 200, raw
    ids = [i["message_id"] for i in answer["items"] if i["document_id"] == document_id(number)]
    assert len(ids) == 1, answer
    return str(ids[0])
