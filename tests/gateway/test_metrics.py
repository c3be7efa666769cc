"""Metrics: names, bounded labels, the HTTP middleware's route templates."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from gateway.ops import metrics

REQUIRED = {
    "edoc_gateway_packets_received",
    "edoc_gateway_intake_stage_seconds",
    "edoc_gateway_rejections",
    "edoc_gateway_deliveries",
    "edoc_gateway_delivery_attempts",
    "edoc_gateway_delivery_latency_seconds",
    "edoc_gateway_http_requests",
    "edoc_gateway_store_errors",
    "edoc_gateway_broker_errors",
    "edoc_gateway_queue_messages",
    "edoc_gateway_directory_agencies",
    "edoc_gateway_directory_last_sync_timestamp_seconds",
    "edoc_gateway_certificate_expiry_seconds",
}


def families() -> dict[str, Any]:
    body, _ = metrics.render()
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def sample(name: str, **labels: str) -> float:
    for family in families().values():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_every_metric_of_the_contract_is_exposed_under_the_namespace() -> None:
    metrics.PACKETS_RECEIVED.labels(kind="document", result="accepted")
    metrics.QUEUE_MESSAGES.labels(queue="deliver", state="waiting").set(3)
    metrics.CERT_EXPIRY_SECONDS.labels(certificate="node").set(86400)
    found = families()
    assert set(found) >= REQUIRED
    assert all(name.startswith("edoc_gateway_") for name in found)


def test_content_type_is_prometheus_text() -> None:
    _, content_type = metrics.render()
    assert content_type.startswith("text/plain") and "version=0.0.4" in content_type


def test_stage_timer_observes_even_when_the_stage_fails() -> None:
    before = sample("edoc_gateway_intake_stage_seconds_count", stage="schema")
    with metrics.stage_timer("schema"):
        pass
    try:
        with metrics.stage_timer("schema"):
            raise ValueError("bad packet")
    except ValueError:
        pass
    assert sample("edoc_gateway_intake_stage_seconds_count", stage="schema") == before + 2


async def test_middleware_labels_by_route_template_never_by_raw_path(aiohttp_client: Any) -> None:
    async def item(request: web.Request) -> web.Response:
        return web.Response(text=request.match_info["message_id"])

    async def boom(_request: web.Request) -> web.Response:
        raise web.HTTPConflict()

    async def crash(_request: web.Request) -> web.Response:
        raise RuntimeError("handler bug")

    sub = web.Application()
    sub.router.add_get("/messages/{message_id}", item)
    sub.router.add_post("/conflict", boom)
    sub.router.add_get("/crash", crash)
    app = web.Application(middlewares=[metrics.metrics_middleware()])
    app.add_subapp("/v1", sub)
    client = await aiohttp_client(app)

    route = "/v1/messages/{message_id}"
    before = sample("edoc_gateway_http_requests_total", route=route, method="GET", status="200")
    for message_id in ("a1b2", "c3d4", "e5f6"):
        assert (await client.get(f"/v1/messages/{message_id}")).status == 200
    assert (await client.post("/v1/conflict")).status == 409
    assert (await client.get("/v1/crash")).status == 500
    assert (await client.get("/no/such/path/123")).status == 404

    after = sample("edoc_gateway_http_requests_total", route=route, method="GET", status="200")
    assert after == before + 3
    assert sample("edoc_gateway_http_requests_total", route="/v1/conflict", status="409") >= 1
    assert sample("edoc_gateway_http_requests_total", route="/v1/crash", status="500") >= 1
    assert sample("edoc_gateway_http_requests_total", route="unmatched", status="404") >= 1
    body = metrics.render()[0].decode()
    assert "a1b2" not in body and "/no/such/path" not in body


async def test_unknown_methods_are_folded_into_other(aiohttp_client: Any) -> None:
    app = web.Application(middlewares=[metrics.metrics_middleware()])
    client = await aiohttp_client(app)
    await client.request("PROPFIND", "/x")
    assert sample("edoc_gateway_http_requests_total", method="OTHER") >= 1
    assert "PROPFIND" not in metrics.render()[0].decode()
