"""A real gateway node for protocol tests: the app from ``gateway.app.build_app`` on loopback.

Store: SQLite in the test's directory; broker: a virtual host of the session's RabbitMQ;
directory, calling systems and packets: the shared test world's (``tests.world``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from gateway.app import build_app
from gateway.config import Settings, load_settings
from tests import world
from tests.conformance import OWN_DOCUMENT, own, own_malformed

REPO = Path(__file__).resolve().parents[2]


def settings_for(tmp: Path, amqp_url: str, **overrides: Any) -> Settings:
    """Settings of one test node: its own store, vhost, directory and systems."""
    systems = world.systems("SYS-G22", "SYS-H41")
    values: dict[str, Any] = {
        "store": {"url": f"sqlite:///{tmp / 'store.db'}", "blob_dir": str(tmp / "blobs")},
        "amqp": {"url": amqp_url, "retry_ladder": [1, 2], "outbox_interval_s": 1.0},
        "node": {
            "code": world.G22,
            "key_file": str(tmp / "absent.key"),
            "cert_file": str(tmp / "absent.crt"),
        },
        "calendar_file": str(REPO / "config" / "calendar.toml"),
        "systems": systems,
        "directory": {"agencies": world.agencies()},
    }
    values.update(overrides)
    return load_settings(None, **values)


@asynccontextmanager
async def running_node(
    settings: Settings,
    extra_ctx: Sequence[Any] = (),
    *,
    port: int | None = None,
    with_workers: bool = True,
) -> AsyncIterator[TestServer]:
    """Start the whole gateway app on 127.0.0.1 (a free port); stop it afterwards.

    ``extra_ctx``: cleanup contexts appended after the app's own (e.g. an upstream poller).
    """
    app = build_app(settings, with_workers=with_workers)
    app.cleanup_ctx.extend(extra_ctx)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@dataclass(frozen=True)
class Shared:
    """The shared conformance packets, read in place; on a bare clone (no ``../shared``)
    the project's own packets with the same quirks stand in."""

    root: Path

    def real(self, name: str) -> bytes:
        """Bytes of a real packet from ``conformance/real`` (or the project's own)."""
        path = self.root / "conformance" / "real" / name
        return path.read_bytes() if path.is_file() else own(OWN_DOCUMENT)

    def malformed(self, name: str) -> bytes:
        """Bytes of a packet from ``conformance/malformed`` (or the project's own)."""
        path = self.root / "conformance" / "malformed" / name
        return path.read_bytes() if path.is_file() else own_malformed()
