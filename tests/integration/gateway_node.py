"""A real gateway node for protocol tests: the app from ``gateway.app.build_app`` on loopback.

Store: SQLite in the test's directory; broker: a virtual host of the session's RabbitMQ;
directory: inline agencies; calling systems: one per agency with a known secret.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from edxml.build import build, new_document
from edxml.model import Code, Organization
from gateway.app import build_app
from gateway.config import Settings, load_settings
from tests.conformance import OWN_DOCUMENT, own, own_malformed

REPO = Path(__file__).resolve().parents[2]

G22 = "000.00.00.G22"
H41 = "000.00.00.H41"
H14 = "000.00.00.H14"
G17 = "000.00.00.G17"
LOCKED = "000.00.00.H40"

AGENCIES: list[dict[str, Any]] = [
    {"code": G22, "old_code": "G22", "name": "Văn phòng Chính phủ", "systems": "SYS-G22"},
    {"code": H41, "old_code": "H41", "name": "UBND tỉnh Nghệ An", "systems": "SYS-H41"},
    {"code": H14, "name": "UBND tỉnh Sơn La"},
    {"code": G17, "name": "Bộ Tài chính"},
    {"code": LOCKED, "name": "Đơn vị bị khóa", "status": "suspended"},
]
SECRETS = {"SYS-G22": "secret-g22-ếđ", "SYS-H41": "secret-h41"}


def settings_for(tmp: Path, amqp_url: str, **overrides: Any) -> Settings:
    """Settings of one test node: its own store, vhost, directory and systems."""
    systems = [
        {"id": "SYS-G22", "secret": SECRETS["SYS-G22"], "agencies": [G22], "policy": "legacy"},
        {"id": "SYS-H41", "secret": SECRETS["SYS-H41"], "agencies": [H41], "policy": "legacy"},
    ]
    values: dict[str, Any] = {
        "store": {"url": f"sqlite:///{tmp / 'store.db'}", "blob_dir": str(tmp / "blobs")},
        "amqp": {"url": amqp_url, "retry_ladder": [1, 2], "outbox_interval_s": 1.0},
        "node": {
            "code": G22,
            "key_file": str(tmp / "absent.key"),
            "cert_file": str(tmp / "absent.crt"),
        },
        "calendar_file": str(REPO / "config" / "calendar.toml"),
        "systems": systems,
        "directory": {"agencies": AGENCIES},
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


def document(
    number: str,
    *,
    sender: str = G22,
    to: Sequence[str] = (H41,),
) -> bytes:
    """An unsigned new-document packet (accepted under the ``legacy`` policy)."""
    envelope = new_document(
        sender=Organization(organ_id=sender, organ_name="Đơn vị gửi"),
        to=[Organization(organ_id=code, organ_name="Đơn vị nhận") for code in to],
        code=Code(number, "VPCP-TTĐT"),
        subject=f"Văn bản thử nghiệm số {number}",
        promulgation_date=date(2024, 1, 5),
        timestamp=datetime(2024, 1, 5, 8, 0, 0),
    )
    return build(envelope)


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
