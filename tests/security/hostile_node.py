"""The live gateway process of the hostile HTTP corpus, the case and outcome records, and
the audit queries every case asserts on.

One ``edoc-gateway serve`` process (SQLite store, real RabbitMQ) takes every case; the
door modules (``hostile_rest``, ``hostile_vxp``, ``hostile_soap``) send them and
``tests/security/test_hostile_http.py`` checks each refusal.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.faults.cluster import GatewayProcess, NodeConfig
from tests.services import RabbitMQ
from tests.world import Pki

MAX_PACKET = 2 * 2**20


@dataclass
class Node:
    """The gateway process under attack and what the cases need to forge packets."""

    url: str
    store: Path
    pki: Pki
    cache: dict[str, bytes] = field(default_factory=dict)


@contextmanager
def hostile_node(rabbitmq: RabbitMQ, tmp: Path) -> Iterator[Node]:
    """Start the gateway process under attack in ``tmp``; kill it afterwards."""
    pki = Pki.create(tmp / "pki")
    store = tmp / "store.db"
    config = NodeConfig(
        f"sqlite:///{store}",
        rabbitmq.url(rabbitmq.new_vhost()),
        tmp / "blobs",
        pki,
        max_packet_bytes=MAX_PACKET,
    )
    process = GatewayProcess(config, tmp / "gateway.log")
    process.start()
    try:
        yield Node(process.url, store, pki)
    finally:
        process.kill()


@dataclass(frozen=True)
class Case:
    """One hostile request: protocol, the packet (or trick) it carries, the code expected."""

    protocol: str  # rest | vxp | soap | admin
    name: str
    code: str
    system: str = "SYS-G22"

    @property
    def id(self) -> str:
        """The case's test id: ``protocol-name``."""
        return f"{self.protocol}-{self.name}"


@dataclass(frozen=True)
class Outcome:
    """The refusal as the protocol rendered it, and the packet to look for in the audit."""

    code: str
    http_status: int
    packet: bytes | None
    messages: tuple[str, ...]


async def json_body(response: aiohttp.ClientResponse) -> Any:
    """The JSON body of an answer, whatever its content type says."""
    return json.loads(await response.read())


def last_seq(node: Node) -> int:
    """The sequence number of the node's newest audit record (0 when there is none)."""
    with sqlite3.connect(node.store, timeout=30) as db:
        return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_log").fetchone()[0])


def rejections_since(node: Node, seq: int) -> list[tuple[str, dict[str, Any]]]:
    """(code, detail) of every ``rejected`` audit record after ``seq``."""
    with sqlite3.connect(node.store, timeout=30) as db:
        rows = db.execute(
            "SELECT outcome, detail FROM audit_log WHERE event = 'rejected' AND seq > ?", (seq,)
        ).fetchall()
    return [(outcome, json.loads(detail or "{}")) for outcome, detail in rows]


def rejected_count(node: Node) -> int:
    """How many ``rejected`` audit records the node holds."""
    with sqlite3.connect(node.store, timeout=30) as db:
        return int(
            db.execute("SELECT COUNT(*) FROM audit_log WHERE event = 'rejected'").fetchone()[0]
        )
