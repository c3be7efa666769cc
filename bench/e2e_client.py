"""The client side of ``bench/e2e_bench.py``: signed sends, the recipient's inbox, stages."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from e2e_gateways import SECRETS, spread

from gateway.credentials.auth import sign_request


class Api:
    """Signed calls to API v1; sends go to the gateway processes in turn."""

    def __init__(self, session: aiohttp.ClientSession, bases: list[str]) -> None:
        self.session, self.base = session, bases[0]
        self._next = spread(bases)

    async def submit(self, body: bytes, *, shed_ok: bool = False) -> dict[str, Any] | None:
        """Send one document; its receipt, or ``None`` when refused as overloaded and
        ``shed_ok`` (any other refusal raises)."""
        headers = sign_request("bench-g22", SECRETS["bench-g22"], "POST", "/v1/messages", body)
        url = next(self._next) + "/v1/messages"
        async with self.session.post(url, data=body, headers=headers) as r:
            if r.status == 503 and shed_ok:
                return None
            if r.status not in (200, 202):
                raise RuntimeError(f"submit -> {r.status}: {await r.text()}")
            return await r.json()  # type: ignore[no-any-return]

    async def inbox(self, after: str | None) -> list[dict[str, Any]]:
        path = "/v1/inbox?limit=500" + (f"&after={after}" if after else "")
        headers = sign_request("bench-h41", SECRETS["bench-h41"], "GET", path, b"")
        async with self.session.get(self.base + path, headers=headers) as r:
            return (await r.json())["items"]


class InboxWatcher:
    """Polls the recipient's inbox and notes when each message first became visible."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.seen: dict[str, float] = {}
        self.cursor: str | None = None

    async def run(self) -> None:
        while True:
            items = await self.api.inbox(self.cursor)
            now = time.perf_counter()
            for item in items:
                self.seen.setdefault(item["message_id"], now)
            if items:
                self.cursor = items[-1]["cursor"]
            else:
                await asyncio.sleep(0.05)

    async def wait_for(self, ids: set[str], timeout: float = 300.0) -> int:
        """Wait until every id is visible; return how many never arrived within ``timeout``."""
        deadline = time.perf_counter() + timeout
        while not ids <= self.seen.keys():
            if time.perf_counter() > deadline:
                missing = len(ids - self.seen.keys())
                print(f"LOST: {missing} accepted documents never arrived", flush=True)
                return missing
            await asyncio.sleep(0.01)
        return 0


async def print_stages(session: aiohttp.ClientSession, base: str) -> None:
    """Print the mean duration of each intake stage so far (from the gateway's /metrics)."""
    async with session.get(base + "/metrics") as response:
        text = await response.text()
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        for suffix, into in (("_sum{", sums), ("_count{", counts)):
            if "intake_stage_seconds" + suffix in line:
                stage = line.split('stage="', 1)[1].split('"', 1)[0]
                into[stage] = float(line.rsplit(" ", 1)[1])
    shown = ", ".join(
        f"{stage} {sums[stage] / counts[stage] * 1000:.1f}" for stage in sums if counts.get(stage)
    )
    print(f"intake stages, mean ms: {shown}", flush=True)
