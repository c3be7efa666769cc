"""The authorization matrix of ``docs/authorization.md`` as data, the live node it is checked
on, and what every cell needs: the calling role (:class:`Ctx`), a signed native REST call and
a freshly delivered document.

The performers of each door are in ``authz_rest``, ``authz_vxp`` and ``authz_hub``;
``tests/security/test_authorization_matrix.py`` runs every cell.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from gateway.credentials.auth import sign_request
from tests.faults.cluster import GatewayProcess, NodeConfig
from tests.services import RabbitMQ
from tests.world import ADMIN_TOKEN, G22, H41, SECRETS, Pki, document

DOC = Path(__file__).resolve().parents[2] / "docs" / "authorization.md"
ROLES = ("bound", "other", "admin", "anonymous")
REFUSAL_CODES = {"AUTH_FAILED", "AUTH_TIMESTAMP", "AUTH_REPLAY", "FORBIDDEN", "SENDER_NOT_ALLOWED"}
_numbers = itertools.count(1)


def read_matrix(path: Path = DOC) -> dict[str, dict[str, str]]:
    """Parse the table between the ``matrix`` markers: operation -> {role or agency: value}."""
    text = path.read_text(encoding="utf-8")
    block = text.split("<!-- matrix:start -->")[1].split("<!-- matrix:end -->")[0]
    rows: dict[str, dict[str, str]] = {}
    for line in block.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        operation = re.sub(r"`", "", cells[0])
        rows[operation] = dict(zip(("agency", *ROLES), cells[1:], strict=True))
    return rows


MATRIX = read_matrix()
CELLS = [(op, role) for op in MATRIX for role in ROLES]


@dataclass
class Ctx:
    """The live node, an HTTP session, the document of this cell and the role calling."""

    url: str
    http: aiohttp.ClientSession
    role: str
    side: str  # sender | recipient | none
    message_id: str = ""

    @property
    def system(self) -> str | None:
        """The system the role signs as (None for the admin and for nobody)."""
        if self.role == "bound":
            return "SYS-G22" if self.side in ("sender", "none") else "SYS-H41"
        return "SYS-H14" if self.role == "other" else None

    def rest_headers(self, method: str, path: str, body: bytes = b"") -> dict[str, str]:
        """The native REST headers the role presents for this request."""
        if self.role == "admin":
            return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        if self.system is None:
            return {}
        return sign_request(self.system, SECRETS[self.system], method, path, body)


@contextmanager
def authz_node(rabbitmq: RabbitMQ, tmp: Path) -> Iterator[str]:
    """Start the gateway process the matrix is checked on; yield its URL, kill it afterwards."""
    config = NodeConfig(
        f"sqlite:///{tmp / 'store.db'}",
        rabbitmq.url(rabbitmq.new_vhost()),
        tmp / "blobs",
        Pki.create(tmp / "pki"),
    )
    process = GatewayProcess(config, tmp / "gateway.log")
    process.start()
    try:
        yield process.url
    finally:
        process.kill()


async def rest(ctx: Ctx, method: str, path: str, body: bytes = b"", **kw: Any) -> tuple[int, Any]:
    """One native REST call as the role: (status, JSON body or the raw bytes)."""
    headers = ctx.rest_headers(method, path, body)
    async with ctx.http.request(
        method, ctx.url + path, data=body or None, headers=headers, **kw
    ) as r:
        raw = await r.read()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, raw


def by_status(status: int, listed: bool | None = None) -> str:
    """Classify an HTTP answer as allowed / hidden / refused."""
    if status in (401, 403):
        return "refused"
    if status == 404:
        return "hidden"
    assert 200 <= status < 300, status
    return "allowed" if listed in (None, True) else "hidden"


def fresh() -> bytes:
    """A new document from G22 to H41."""
    return document(f"A{next(_numbers):05d}", sender=G22, to=(H41,))


def next_number() -> int:
    """A number no other cell used (document numbers must differ)."""
    return next(_numbers)


async def delivered_document(url: str, http: aiohttp.ClientSession) -> str:
    """Send a fresh document G22 -> H41 and wait until it sits in H41's mailbox."""
    sender = Ctx(url, http, "bound", "sender")
    status, receipt = await rest(sender, "POST", "/v1/messages", fresh())
    assert status == 202, receipt
    message_id = receipt["message_id"]
    for _ in range(600):
        _, trace = await rest(sender, "GET", f"/v1/messages/{message_id}/trace")
        if all(d["state"] in ("delivered", "acked") for d in trace["deliveries"]):
            return str(message_id)
        await asyncio.sleep(0.1)
    raise AssertionError("document never delivered")
