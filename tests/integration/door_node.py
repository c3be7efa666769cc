"""A live gateway process for the door-by-door refusal tests, and its audit chain as the CLI
lists it.

The node is ``edoc-gateway serve`` (SQLite store, real RabbitMQ) with the shared test world
plus the door agencies (``tests.world.door_settings``). :func:`audit_since` runs the real
``edoc-gateway audit show --since T --json``; tests send one case per time window and count
the records inside each window, whichever layer wrote them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tests import world
from tests.faults.cluster import REPO, GatewayProcess, NodeConfig
from tests.services import RabbitMQ
from tests.world import Pki

MAX_PACKET = 2 * 2**20
SETTLE_S = 0.15  # a record written just after the answer still falls in its own window


@dataclass
class Node:
    """The gateway process and how to reach its store through the CLI."""

    process: GatewayProcess
    config: NodeConfig
    numbers: Iterator[int] = field(default_factory=lambda: iter(range(7000, 9000)))
    token: str = ""  # a bearer token of SYS-G22 (an agency's, not an admin's)

    @property
    def url(self) -> str:
        return self.process.url

    def number(self) -> str:
        return str(next(self.numbers))


@contextmanager
def door_node(rabbitmq: RabbitMQ, tmp: Path) -> Iterator[Node]:
    """Start the gateway process in ``tmp``; kill it afterwards."""
    config = NodeConfig(
        f"sqlite:///{tmp / 'store.db'}",
        rabbitmq.url(rabbitmq.new_vhost()),
        tmp / "blobs",
        Pki.create(tmp / "pki"),
        max_packet_bytes=MAX_PACKET,
        extra=world.door_settings(),
    )
    process = GatewayProcess(config, tmp / "gateway.log")
    process.start()
    try:
        yield Node(process, config)
    finally:
        process.kill()


def audit_since(config: NodeConfig, since: datetime) -> list[dict[str, Any]]:
    """The audit records from ``since`` on, as the real CLI lists them (JSON lines)."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "audit",
            "show",
            "--since",
            since.isoformat(),
            "--json",
        ],
        env=config.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: no record at all
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def at_of(record: dict[str, Any]) -> datetime:
    """When the record was written (aware UTC)."""
    return datetime.fromisoformat(record["at"])
