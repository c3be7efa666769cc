"""A real gateway with the Bkav eDoc hub door for one test (loopback HTTP, real RabbitMQ,
SQLite), and the steps the hub tests share: send a PDF from G22, wait until a number is
pending, wait for traces.

Requests are framed as the C# QLVB client frames them (``tests/hub_client.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.store.models import Base
from tests.hub_client import HubClient, send_document_envelope
from tests.integration.gateway_node import running_node, settings_for
from tests.pki import make_ca, make_leaf, write_pems
from tests.world import G22, H41, SECRETS

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\r\n" + bytes(range(256)) * 40 + b"\r\n\r\n%%EOF\r\n"
NUMBERS = iter(range(100, 10_000))  # document numbers, distinct across the hub tests


@dataclass
class Hub:
    """The running node, an HTTP session and the store path."""

    url: str
    http: aiohttp.ClientSession
    store: Path

    def client(self, organ: str, system: str, *, multipart: bool = True) -> HubClient:
        """A hub client for ``organ`` with the secret of ``system``."""
        return HubClient(self.http, self.url + "/services/eDoc", organ, SECRETS[system], multipart)

    async def audit_rows(self) -> list[dict[str, object]]:
        """Every audit record of the node's store."""
        engine = create_async_engine(f"sqlite+aiosqlite:///{self.store}")
        table = Base.metadata.tables["audit_log"]
        async with engine.connect() as conn:
            rows = (await conn.execute(select(table))).mappings().all()
        await engine.dispose()
        return [dict(r) for r in rows]


async def start_hub(tmp: Path, amqp_url: str) -> AsyncIterator[Hub]:
    """Run the node for one test (an async generator used by the fixture)."""
    ca = make_ca("Hub Test Root CA")
    paths = write_pems(tmp / "pki", ca=ca, node=make_leaf(ca, "edoc node"))
    node = {"code": G22, "key_file": str(paths["node.key"]), "cert_file": str(paths["node.chain"])}
    settings = settings_for(tmp, amqp_url, node=node)
    async with running_node(settings) as server, aiohttp.ClientSession() as http:
        yield Hub(str(server.make_url("")).rstrip("/"), http, tmp / "store.db")


async def send_pdf(hub: Hub, number: str | None = None, to: tuple[str, ...] = (H41,)) -> int:
    """SendDocument G22 → ``to`` with a PDF attachment; returns the numeric hub id."""
    number = number or str(next(NUMBERS))
    sender = hub.client(G22, "SYS-G22")
    root = send_document_envelope(
        sender=G22,
        to=list(to),
        number=number,
        key_organ=G22,
        token=SECRETS["SYS-G22"],
        attachments={"att1": "a.pdf"},
    )
    answer = await sender.post("SendDocument", root, {"att1": ("application/pdf", PDF)})
    assert answer.status == 200
    assert answer.ok, answer.error_codes
    ident = answer.find("DocumentId")
    assert ident is not None and str(ident.text).isdigit()
    return int(str(ident.text))


async def wait_pending(client: HubClient, number: int) -> None:
    """Wait until ``number`` is in the client's pending list."""
    for _ in range(400):
        if number in await client.pending():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{number} never became pending")


async def wait_traces(client: HubClient) -> list[dict[str, str]]:
    """Wait for the client's first traces; their fields by tag."""
    for _ in range(400):
        answer = await client.traces()
        found = [
            {c.tag.split("}")[1]: (c.text or "") for c in status}
            for status in answer.findall("Traces/Status")
        ]
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("no trace arrived")
