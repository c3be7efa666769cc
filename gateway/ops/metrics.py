"""Prometheus metrics of the gateway, all named ``edoc_gateway_*`` (see docs/metrics.md).

Every metric lives in one registry, :data:`REGISTRY`, served by ``/metrics`` (adapters/ops).
Labels only take bounded values: kinds, results, stages, error codes, transports, queue
names from the configuration, route templates (never raw paths), certificate names from
the configuration. Message ids, document ids and agency codes are never labels.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

NAMESPACE = "edoc_gateway"
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(namespace=NAMESPACE, registry=REGISTRY)

STAGES = ("parse", "schema", "signature", "authorize", "resolve", "store", "publish")
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)

PACKETS_RECEIVED = Counter(
    "packets_received",
    "Packets received, by kind (document|status) and result (accepted|duplicate|rejected).",
    ["kind", "result"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
INTAKE_STAGE_SECONDS = Histogram(
    "intake_stage_seconds",
    "Duration of each intake stage (parse|schema|signature|authorize|resolve|store|publish).",
    ["stage"],
    namespace=NAMESPACE,
    registry=REGISTRY,
    buckets=_FAST_BUCKETS,
)
REJECTIONS = Counter(
    "rejections",
    "Packets refused, by stable error code.",
    ["code"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "deliveries",
    "Delivery outcomes, by transport (mailbox|push|peer) and result "
    "(delivered|retry|parked|failed).",
    ["transport", "result"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
DELIVERY_ATTEMPTS = Counter(
    "delivery_attempts",
    "Delivery attempts started, by transport.",
    ["transport"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
DELIVERY_LATENCY_SECONDS = Histogram(
    "delivery_latency_seconds",
    "End-to-end latency from acceptance of a packet to its delivery to one recipient.",
    namespace=NAMESPACE,
    registry=REGISTRY,
    buckets=_DELIVERY_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests served, by route template, method and status code.",
    ["route", "method", "status"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
STORE_ERRORS = Counter(
    "store_errors",
    "Errors raised by the store (database or blob storage).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
BROKER_ERRORS = Counter(
    "broker_errors",
    "Errors raised by the message broker connection (publish, consume, connect).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
QUEUE_MESSAGES = Gauge(
    "queue_messages",
    "Messages in each broker queue, by state (waiting|retrying|parked).",
    ["queue", "state"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
DIRECTORY_AGENCIES = Gauge(
    "directory_agencies",
    "Agencies known to the directory.",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
DIRECTORY_LAST_SYNC = Gauge(
    "directory_last_sync_timestamp_seconds",
    "Unix time of the last successful directory synchronisation.",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
CERT_EXPIRY_SECONDS = Gauge(
    "certificate_expiry_seconds",
    "Seconds until each configured certificate expires (negative once expired).",
    ["certificate"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
HTTP_REQUEST_SECONDS = Histogram(
    "http_request_seconds",
    "Duration of HTTP requests, by route template.",
    ["route"],
    namespace=NAMESPACE,
    registry=REGISTRY,
    buckets=_FAST_BUCKETS,
)
HEALTH_CHECK_UP = Gauge(
    "health_check_up",
    "Result of the last readiness check run: 1 passing, 0 failing, by check name.",
    ["check"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
MAINTENANCE_MODE = Gauge(
    "maintenance_mode",
    "1 while the operator has switched this process to maintenance mode.",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
BUILD_INFO = Info(
    "build",
    "Version of the running gateway.",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
DELIVERIES_IN_STATE = Gauge(
    "deliveries_in_state",
    "Deliveries in the store by state (pending|published|delivered|retrying|parked|acked); "
    "the same figure on every process of one store.",
    ["state"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@contextmanager
def stage_timer(stage: str) -> Iterator[None]:
    """Observe the duration of one intake stage in :data:`INTAKE_STAGE_SECONDS`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        INTAKE_STAGE_SECONDS.labels(stage=stage).observe(time.perf_counter() - started)


def render() -> tuple[bytes, str]:
    """Return the text exposition (format 0.0.4, read by every Prometheus 2.x) of the registry."""
    return generate_latest(REGISTRY), CONTENT_TYPE_PLAIN_0_0_4


def route_label(request: web.Request) -> str:
    """Return the bounded route label of a request: its resource's canonical path template."""
    match_info = request.match_info
    route = getattr(match_info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None:
        return "unmatched"
    return resource.canonical


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def metrics_middleware() -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Return an aiohttp middleware counting requests by route template, method and status.

    Install it on the root application; sub-application routes report their full template
    (``/v1/messages/{message_id}``), unmatched paths report ``unmatched``.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = route_label(request)
            method = request.method if request.method in _METHODS else "OTHER"
            HTTP_REQUESTS.labels(route=route, method=method, status=str(status)).inc()
            HTTP_REQUEST_SECONDS.labels(route=route).observe(time.perf_counter() - started)

    return middleware
