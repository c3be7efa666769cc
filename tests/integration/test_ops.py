"""Operations over real HTTP: promtool accepts a live scrape, the alert rules and every
PromQL expression of the Grafana dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from adapters.ops import build_ops_app
from gateway.ops import health, metrics
from gateway.ops.duties import DUTY_LAST_OK

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "config" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "config" / "grafana" / "edoc-gateway.json"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

pytestmark = pytest.mark.integration


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [PROMTOOL, *args], input=stdin, capture_output=True, timeout=120, check=False
    )


@pytest.fixture
async def live_url() -> AsyncIterator[str]:
    """A real ops server on a loopback port with the metrics middleware installed."""

    async def store_probe() -> str:
        return "ok"

    app = build_ops_app(health.HealthChecker([health.Check("store", store_probe)]))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def exercise_every_metric() -> None:
    metrics.PACKETS_RECEIVED.labels(kind="document", result="accepted").inc()
    metrics.PACKETS_RECEIVED.labels(kind="status", result="rejected").inc()
    for stage in metrics.STAGES:
        metrics.INTAKE_STAGE_SECONDS.labels(stage=stage).observe(0.002)
    metrics.REJECTIONS.labels(code="EDXML_SCHEMA").inc()
    metrics.DELIVERIES.labels(transport="push", result="delivered").inc()
    metrics.DELIVERY_ATTEMPTS.labels(transport="push").inc()
    metrics.DELIVERY_LATENCY_SECONDS.observe(0.8)
    metrics.STORE_ERRORS.inc(0)
    metrics.BROKER_ERRORS.inc(0)
    metrics.QUEUE_MESSAGES.labels(queue="deliver", state="waiting").set(2)
    metrics.QUEUE_MESSAGES.labels(queue="parked", state="parked").set(0)
    metrics.DIRECTORY_AGENCIES.set(1234)
    metrics.DIRECTORY_LAST_SYNC.set_to_current_time()
    metrics.CERT_EXPIRY_SECONDS.labels(certificate="node").set(90 * 86400)
    metrics.BUILD_INFO.info({"version": "0.1.0"})
    metrics.DELIVERIES_IN_STATE.labels(state="parked").set(0)
    DUTY_LAST_OK.labels(duty="outbox-sweep").set(1)


async def scrape(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session:
        for path in ("/healthz", "/readyz", "/no/such/page"):
            async with session.get(url + path) as response:
                await response.read()
        async with session.get(url + "/metrics") as response:
            return response.status, response.headers["Content-Type"], await response.read()


async def test_promtool_accepts_a_live_scrape(live_url: str) -> None:
    exercise_every_metric()
    status, content_type, body = await scrape(live_url)
    assert status == 200 and content_type.startswith("text/plain")
    checked = promtool("check", "metrics", stdin=body)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    text = body.decode()
    assert 'edoc_gateway_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "/no/such/page" not in text


def test_promtool_accepts_the_alert_rules() -> None:
    checked = promtool("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert "SUCCESS" in checked.stdout.decode()


def dashboard_expressions() -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(DASHBOARD.read_text(encoding="utf-8")))
    return found


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    expressions = dashboard_expressions()
    assert len(expressions) >= 15
    rules = tmp_path / "dashboard.rules.yml"
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for index, expr in enumerate(expressions):
        concrete = expr.replace("$__rate_interval", "5m").replace("$instance", ".*")
        assert "$" not in concrete, concrete
        lines += [
            f"      - record: dashboard:expr_{index}",
            f"        expr: {json.dumps(concrete)}",
        ]
    rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
    checked = promtool("check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert f"SUCCESS: {len(expressions)} rules found" in checked.stdout.decode()


async def test_dashboard_and_alerts_only_use_exported_metrics(live_url: str) -> None:
    exercise_every_metric()
    _, _, body = await scrape(live_url)
    exported = set(re.findall(r"^(edoc_gateway_\w+?)(?:\{| )", body.decode(), re.MULTILINE))
    used = set(re.findall(r"edoc_gateway_\w+", DASHBOARD.read_text(encoding="utf-8")))
    used |= set(re.findall(r"edoc_gateway_\w+", ALERTS.read_text(encoding="utf-8")))
    assert used and used <= exported, used - exported
