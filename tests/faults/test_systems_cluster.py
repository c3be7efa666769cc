"""Calling systems and scheduled duties across two real gateway processes on one PostgreSQL.

A system added with the CLI (and another with the admin API of one process) authenticates on
both processes within 2 s; after a rotation both secrets work on both processes until the
overlap ends, then only the new one; a disabled system is refused everywhere. Each duty runs
once per interval across the two processes: the runs counted by the store's lease rows equal
the sum of both processes' ``edoc_gateway_duty_runs_total`` and stay at one per interval.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from gateway.credentials.auth import sign_request
from gateway.store.database import create_engine
from tests.faults.cluster import REPO, GatewayProcess, NodeConfig, report
from tests.vxp_client import VxpTestClient
from tests.world import ADMIN_TOKEN, G22, Pki

pytestmark = pytest.mark.integration

OVERLAP_S = 8.0
DUTY_INTERVAL_S = 2.0
LIVE_WITHIN_S = 2.0


def cli(config: NodeConfig, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run ``edoc-gateway ARGS`` with the environment of the gateway processes."""
    return subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", *args],
        env=config.env(),
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def status(http: aiohttp.ClientSession, url: str, system: str, secret: str) -> int:
    """HTTP status of a signed ``GET /v1/inbox`` as ``system``."""
    headers = sign_request(system, secret, "GET", "/v1/inbox")
    async with http.get(url + "/v1/inbox", headers=headers) as response:
        return response.status


async def until(predicate: Callable[[], object], timeout: float) -> float:
    """Wait until the async ``predicate`` holds; return the seconds it took."""
    started = time.monotonic()
    while True:
        if await predicate():  # type: ignore[misc]
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, "condition not met in time"
        await asyncio.sleep(0.05)


def node(pg_url: str, amqp_url: str, tmp_path: Path, pki: Pki) -> NodeConfig:
    extra = {
        "CREDENTIALS": {
            "key_file": str(tmp_path / "credentials.key"),
            "overlap_days": 7,
            "refresh_interval_s": 0.5,
        },
        "DUTIES": {
            "audit_verify_interval_s": DUTY_INTERVAL_S,
            "certificates_interval_s": DUTY_INTERVAL_S,
            "inactivity_interval_s": DUTY_INTERVAL_S,
        },
    }
    return NodeConfig(pg_url, amqp_url, tmp_path / "blobs", pki, extra=extra)


async def test_systems_live_on_two_processes_and_duties_once_per_interval(
    tmp_path, amqp_url: str, pg_url: str, pki: Pki, gateways: Callable, http
) -> None:
    config = node(pg_url, amqp_url, tmp_path, pki)
    first: GatewayProcess = gateways(config, "gateway-a")
    second: GatewayProcess = gateways(
        NodeConfig(pg_url, amqp_url, config.blob_dir, pki, extra=config.extra), "gateway-b"
    )
    await asyncio.gather(asyncio.to_thread(first.start), asyncio.to_thread(second.start))
    urls = [first.url, second.url]
    duties_started = time.monotonic()

    # -- add with the CLI: works at once on both processes ---------------------------------
    added = cli(config, "systems", "add", "QLVB-NEW", "--agencies", G22, "--profile", "strict")
    assert added.returncode == 0, added.stderr
    secret = json.loads(added.stdout)["secret"]
    assert json.loads(added.stdout)["system"]["profile"] == "strict"
    seen_in = [
        await until(lambda u=u: _is(http, u, "QLVB-NEW", secret, 200), LIVE_WITHIN_S + 1)
        for u in urls
    ]
    shown = cli(config, "systems", "show", "QLVB-NEW")
    assert shown.returncode == 0 and secret not in shown.stdout
    assert secret not in first.log_path.read_text() + second.log_path.read_text()

    # -- add with the admin API of one process: works on the other ---------------------------
    async with http.post(
        first.url + "/admin/v1/systems",
        json={"id": "QLVB-API", "agencies": [G22]},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ) as response:
        assert response.status == 201
        api_secret = (await response.json())["secret"]
    await until(lambda: _is(http, second.url, "QLVB-API", api_secret, 200), LIVE_WITHIN_S + 1)

    # -- rotate: both secrets during the overlap, only the new one after ---------------------
    rotated = cli(
        config,
        "systems",
        "rotate",
        "QLVB-NEW",
        "--overlap-days",
        str(OVERLAP_S / 86400),
        "--secret-stdin",
        stdin="rotated-secret-0123456789-ế\n",
    )
    assert rotated.returncode == 0, rotated.stderr
    rotated_at = time.monotonic()
    new_secret = "rotated-secret-0123456789-ế"
    for url in urls:
        await until(lambda u=url: _is(http, u, "QLVB-NEW", new_secret, 200), LIVE_WITHIN_S + 1)
        assert await status(http, url, "QLVB-NEW", secret) == 200  # old one, in the overlap
        for key in (secret, new_secret):  # the VXP door too (HMAC with either secret)
            assert (await vxp_agencies(http, url, key))["status"] == "OK"
    assert time.monotonic() - rotated_at < OVERLAP_S - 1, "the overlap check came too late"
    await asyncio.sleep(max(0.0, OVERLAP_S - (time.monotonic() - rotated_at)) + 0.5)
    for url in urls:
        assert await status(http, url, "QLVB-NEW", secret) == 401
        assert await status(http, url, "QLVB-NEW", new_secret) == 200
        assert (await vxp_agencies(http, url, secret))["status"] == "FAIL"
        assert (await vxp_agencies(http, url, new_secret))["status"] == "OK"

    # -- disable: refused on both within the refresh delay ------------------------------------
    disabled = cli(config, "systems", "disable", "QLVB-NEW", "--reason", "test")
    assert disabled.returncode == 0, disabled.stderr
    off_in = [
        await until(lambda u=u: _is(http, u, "QLVB-NEW", new_secret, 401), LIVE_WITHIN_S + 1)
        for u in urls
    ]
    assert cli(config, "systems", "enable", "QLVB-NEW").returncode == 0
    await until(lambda: _is(http, second.url, "QLVB-NEW", new_secret, 200), LIVE_WITHIN_S + 1)

    # -- duties: once per interval across the two processes -----------------------------------
    await asyncio.sleep(max(0.0, 4 * DUTY_INTERVAL_S - (time.monotonic() - duties_started)))
    elapsed = time.monotonic() - duties_started
    per_process = [await _duty_runs(http, u) for u in urls]
    engine = create_engine(pg_url)
    try:
        async with engine.connect() as conn:
            leases = dict((await conn.execute(text("SELECT duty, runs FROM duty_leases"))).all())
    finally:
        await engine.dispose()
    for duty in ("audit-verify", "certificates", "inactivity"):
        summed = sum(p.get(duty, 0) for p in per_process)
        # Between the scrape and the query one more run may have ended.
        assert leases[duty] - 1 <= summed <= leases[duty], (duty, per_process, leases)
        assert 2 <= leases[duty] <= elapsed / DUTY_INTERVAL_S + 2, (duty, leases, elapsed)
    listed = cli(config, "duties", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    audit_row = next(r for r in json.loads(listed.stdout) if r["name"] == "audit-verify")
    assert audit_row["last_ok"] is True and audit_row["last_result"] == "chain intact"
    async with http.get(first.url + "/readyz") as response:
        ready = await response.json()
    detail = next(c for c in ready["checks"] if c["name"] == "duties")["detail"]
    assert "audit-verify: ok (chain intact)" in detail and "outbox-sweep" in detail
    report(
        f"SYSTEMS-CLUSTER: added_seen_s={max(seen_in):.2f} disabled_seen_s={max(off_in):.2f} "
        f"duty_runs={leases} per_process={per_process} elapsed_s={elapsed:.1f}"
    )


async def vxp_agencies(http: aiohttp.ClientSession, url: str, secret: str) -> dict:
    """``getAgenciesList`` on the VXP door as QLVB-NEW with ``secret``."""
    client = VxpTestClient(http, url + "/vxp", "QLVB-NEW", secret)
    return await client.call("getAgenciesList")


async def _is(http: aiohttp.ClientSession, url: str, system: str, secret: str, want: int) -> bool:
    return await status(http, url, system, secret) == want


async def _duty_runs(http: aiohttp.ClientSession, url: str) -> dict[str, int]:
    async with http.get(url + "/metrics") as response:
        body = await response.text()
    runs: dict[str, int] = {}
    pattern = r'^edoc_gateway_duty_runs_total\{duty="([^"]+)",result="[^"]+"\} (\S+)$'
    for name, value in re.findall(pattern, body, re.MULTILINE):
        runs[name] = runs.get(name, 0) + int(float(value))
    return runs
