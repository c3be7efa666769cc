"""A real gateway node for the SDK-faithful client (tests/sdk_client.py): the whole app on
loopback with a real RabbitMQ, SQLite store, a node key (so ``done`` produces status 01) and
calling systems of each authentication profile."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from gateway import appkeys
from gateway.credentials.auth import sign_request
from gateway.credentials.replay import ReplayCache
from tests.integration.gateway_node import running_node, settings_for
from tests.pki import make_ca, make_leaf, write_pems
from tests.sdk_client import Vendor
from tests.world import G22, H41, SECRETS

T = TypeVar("T")
MAX_PACKET = 256 * 1024
WAIT_S = 90.0
SDK_SECRETS = {
    **SECRETS,
    "SYS-G22-STRICT": "secret-strict-g22",
    "SYS-G22-NET": "secret-net-g22",
}


@dataclass
class SdkNode:
    """The running node: its VXP URL, its root URL, its store file, a client session."""

    url: str
    store: Path
    http: aiohttp.ClientSession
    replays: ReplayCache  # the process's one replay cache (REST and VXP strict)

    @property
    def vxp(self) -> str:
        """The VXP door, as a vendor configures it."""
        return self.url + "/vxp"

    def vendor(self, system: str, mode: str = "long-lived", **kw: Any) -> Vendor:
        """A QLVB system using the SDK against this node."""
        secret = kw.pop("secret", SDK_SECRETS[system])
        return Vendor(self.http, self.vxp, system, secret, mode=mode, **kw)

    async def native(self, system: str, method: str, path: str) -> Any:
        """A call to the native REST API (``/v1``) with a signed request."""
        headers = sign_request(system, SDK_SECRETS[system], method, path)
        async with self.http.request(method, self.url + path, headers=headers) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    def audit(self, after: int = 0) -> list[dict[str, Any]]:
        """``rejected`` audit records after sequence number ``after``."""
        with sqlite3.connect(self.store, timeout=30) as db:
            rows = db.execute(
                "SELECT seq, actor, outcome, detail FROM audit_log "
                "WHERE event = 'rejected' AND seq > ? ORDER BY seq",
                (after,),
            ).fetchall()
        return [
            {"seq": s, "actor": a, "outcome": o, "detail": json.loads(d or "{}")}
            for s, a, o, d in rows
        ]

    def last_seq(self) -> int:
        """The audit chain's last sequence number."""
        with sqlite3.connect(self.store, timeout=30) as db:
            return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_log").fetchone()[0])

    def count(self, sql: str, *args: Any) -> int:
        """One integer from the store (messages, deliveries, statuses)."""
        with sqlite3.connect(self.store, timeout=30) as db:
            return int(db.execute(sql, args).fetchone()[0])


def systems() -> list[dict[str, Any]]:
    """The calling systems: sdk (default) profile, strict profile, network allow-lists."""
    return [
        {"id": "SYS-G22", "secret": SDK_SECRETS["SYS-G22"], "agencies": [G22], "profile": "sdk"},
        {
            "id": "SYS-H41",
            "secret": SDK_SECRETS["SYS-H41"],
            "agencies": [H41],
            "allowed_networks": ["127.0.0.0/8", "::1/128"],
        },
        {
            "id": "SYS-G22-STRICT",
            "secret": SDK_SECRETS["SYS-G22-STRICT"],
            "agencies": [G22],
            "profile": "strict",
        },
        {
            "id": "SYS-G22-NET",
            "secret": SDK_SECRETS["SYS-G22-NET"],
            "agencies": [G22],
            "allowed_networks": ["10.99.0.0/16"],
        },
    ]


async def start_sdk_node(tmp: Path, amqp_url: str) -> AsyncIterator[SdkNode]:
    """Run the node for one test (an async generator used by the fixture)."""
    ca = make_ca("SDK Test Root CA")
    paths = write_pems(tmp / "pki", ca=ca, node=make_leaf(ca, "edoc node"))
    settings = settings_for(
        tmp,
        amqp_url,
        systems=systems(),
        node={
            "code": G22,
            "key_file": str(paths["node.key"]),
            "cert_file": str(paths["node.chain"]),
        },
        limits={"max_packet_bytes": MAX_PACKET},
    )
    async with running_node(settings) as server, aiohttp.ClientSession() as http:
        replays = server.app[appkeys.AUTHENTICATOR].replays
        yield SdkNode(str(server.make_url("")).rstrip("/"), tmp / "store.db", http, replays)


async def until(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll ``probe`` until it returns something truthy (delivery is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        value = await probe()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)
