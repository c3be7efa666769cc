"""Composition root of the HTTP service: builds the application from the settings.

Every resource is one cleanup context, opened in dependency order when the application
starts and closed in reverse: store (engine, schema, blobs) → directory, calendar, keys →
broker → core (intake, gateway facade) → delivery workers and transports → outbox sweep.
Adapters are mounted as sub-applications: native API at ``/v1``, operations at the root
(``/healthz``, ``/readyz``, ``/metrics``), VXP at ``/vxp``, the Bkav eDoc hub SOAP door at
``/services/eDoc`` and its REST v2 at ``/EdocService`` (``[hub]`` paths), admin API at
``/admin/v1``. This is the one core module that imports adapters.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from cryptography import x509

from adapters.console.app import build_console_app
from adapters.ops.app import CHECKER as OPS_CHECKER
from adapters.ops.app import setup_routes as setup_ops_routes
from adapters.push.transport import PushTransport
from adapters.rest.admin import build_admin_app
from adapters.rest.admin_systems import setup_systems_routes
from adapters.rest.app import build_rest_app
from adapters.soap.rest_v2 import build_hub_rest_app
from adapters.soap.server import build_soap_app
from adapters.vxp.client import VxpAgencySource, VxpClient
from adapters.vxp.server import build_vxp_app
from adapters.vxp.upstream import UpstreamLink, upstream_ctx, upstream_transport
from gateway import appkeys
from gateway.config import Settings
from gateway.core.access import Access
from gateway.core.admission import Admission, Limits
from gateway.core.calendar import load_calendar
from gateway.core.intake import Intake
from gateway.core.operations import Gateway
from gateway.credentials.auth import Authenticator
from gateway.credentials.live import SqlCallingSystems
from gateway.credentials.setup import systems_context
from gateway.delivery.broker import Broker
from gateway.delivery.transports import MailboxTransport, Transport
from gateway.delivery.workers import DeliveryService, close_transports
from gateway.directory.live import SqlDirectory
from gateway.directory.sync import start_directory
from gateway.legal.wiring import review_from_settings, scanner_check
from gateway.nodekey import load_identity, signing_check, uses_protected_key
from gateway.ops.duties import duties_check
from gateway.ops.duties_setup import duties_context
from gateway.ops.health import Check, CheckFailed, HealthChecker, Maintenance, readiness_checks
from gateway.ops.metrics import metrics_middleware
from gateway.ops.state_metrics import context as delivery_state_metrics
from gateway.store.blob_stores import close_blob_store, open_blob_store
from gateway.store.database import create_engine, create_schema
from gateway.store.readers import create_reader

log = structlog.get_logger(__name__)


def load_anchors(settings: Settings) -> list[x509.Certificate]:
    """Read the trust anchors (PEM files, several certificates each allowed)."""
    anchors: list[x509.Certificate] = []
    for path in settings.trust.anchors:
        anchors.extend(x509.load_pem_x509_certificates(path.read_bytes()))
    return anchors


def _make_sqlite_dir(url: str) -> None:
    """Create the directory of an embedded SQLite database file (first start)."""
    scheme, _, rest = url.partition(":///")
    if scheme.startswith("sqlite") and rest and not rest.startswith(":memory:"):
        Path(rest.split("?", 1)[0]).parent.mkdir(parents=True, exist_ok=True)


def _pool_options(url: str) -> dict[str, Any]:
    """SQLite has one writer: one pooled connection makes transactions queue in the pool
    (fair, no sleeping) instead of competing in SQLite's busy handler (sleeps of up to
    100 ms each). PostgreSQL keeps the store's defaults."""
    if url.startswith("sqlite"):
        return {"pool_size": 1, "max_overflow": 0, "pool_timeout": 120}
    return {}


def _store_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        _make_sqlite_dir(settings.store.url)
        engine, reader, blobs = app[appkeys.ENGINE], app[appkeys.READER], app[appkeys.BLOBS]
        await create_schema(engine)
        yield
        await close_blob_store(blobs)
        if reader is not engine:
            await reader.dispose()
        await engine.dispose()

    return ctx


async def _directory_ctx(app: web.Application) -> AsyncIterator[None]:
    """Seed the directory on first start, load it, and follow changes made by any process."""
    directory = app[appkeys.DIRECTORY]
    await start_directory(directory, app[appkeys.ENGINE], app[appkeys.SETTINGS])
    yield
    await directory.close()


def _broker_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        broker = app[appkeys.BROKER]
        await broker.connect(
            settings.amqp.url, prefetch=settings.amqp.prefetch, ladder=settings.amqp.retry_ladder
        )
        yield
        await broker.close()

    return ctx


async def _core_ctx(app: web.Application) -> AsyncIterator[None]:
    """The core holds worker pools and writers: closed when the application stops."""
    yield
    await app[appkeys.GATEWAY].intake.close()


def _build_core(app: web.Application, settings: Settings) -> Gateway:
    """The core operations, built on the resources the application opens when it starts."""
    anchors = load_anchors(settings)
    intake = Intake(
        engine=app[appkeys.ENGINE],
        blobs=app[appkeys.BLOBS],
        broker=app[appkeys.BROKER],
        directory=app[appkeys.DIRECTORY],
        calendar=load_calendar(settings.calendar_file),
        trust_anchors=anchors,
        max_bytes=settings.limits.max_packet_bytes,
        node_code=settings.node.code,
        access=Access(app[appkeys.DIRECTORY], app[appkeys.MAINTENANCE]),
        legal=review_from_settings(settings, anchors, app[appkeys.CALLING_SYSTEMS]),
        admission=Admission(
            Limits(
                settings.admission.max_in_flight,
                settings.admission.per_system,
                settings.admission.retry_after_s,
                settings.admission.urgent_reserve,
            )
        ),
        large_packet_bytes=settings.admission.large_packet_bytes,
    )
    gateway = Gateway(intake, app.get(appkeys.NODE), reader=app[appkeys.READER])
    gateway.on_activity = app[appkeys.CALLING_SYSTEMS].note_activity
    return gateway


def _upstream_link(settings: Settings) -> UpstreamLink | None:
    up = settings.upstream
    if up is None:
        return None
    return UpstreamLink(
        name=up.name,
        url=up.url,
        system_id=up.system_id,
        secret=up.secret.get_secret_value(),
        poll_interval_s=up.poll_interval_s,
        policy=up.policy,
        extra_agencies=up.extra_agencies,
    )


def upstream_directory_source(settings: Settings) -> Any:
    """The upstream axis's agency list as the directory-sync source (None without one)."""
    link = _upstream_link(settings)
    if link is None:
        return None

    def make() -> tuple[VxpAgencySource, Callable[[], Any]]:
        client = VxpClient(link.url, link.system_id, link.secret)
        return VxpAgencySource(client, node=link.name), client.close

    return make


def delivery_transports(
    *,
    node_key: Any | None,
    node_code: str,
    upstream: UpstreamLink | None = None,
    path_of: Any = None,
) -> dict[str, Transport]:
    """The outbound transports by endpoint kind: mailbox always, push with a node key to
    sign requests, peer when an upstream axis is configured (``path_of``: the hops a
    forwarded message carries, ``Gateway.onward_hops``)."""
    transports: dict[str, Transport] = {"mailbox": MailboxTransport()}
    if node_key is not None:
        transports["push"] = PushTransport(None, node_key, node_code=node_code)
    if upstream is not None:
        transports["peer"] = upstream_transport(upstream, node=node_code, path_of=path_of)
    return transports


def _transports(app: web.Application, settings: Settings) -> dict[str, Transport]:
    node = app.get(appkeys.NODE)
    return delivery_transports(
        node_key=node.key if node is not None else None,
        node_code=settings.node.code,
        upstream=_upstream_link(settings),
        path_of=app[appkeys.GATEWAY].onward_hops,
    )


def _workers_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        transports = _transports(app, settings)
        service = DeliveryService(
            app[appkeys.ENGINE],
            app[appkeys.BLOBS],
            app[appkeys.BROKER],
            transports,
            on_parked=app[appkeys.GATEWAY].on_parked,
            reader=app.get(appkeys.READER),
        )
        await service.start()
        yield
        await service.stop()
        await close_transports(transports)

    return ctx


def build_app(settings: Settings, *, with_workers: bool = True) -> web.Application:
    """Build the gateway application; resources open when it starts, close when it stops.

    ``with_workers=False`` builds an API-only process (no delivery consumers, no sweep).
    """
    app = web.Application(
        middlewares=[metrics_middleware()],
        client_max_size=settings.limits.max_packet_bytes + 1,
    )
    app[appkeys.SETTINGS] = settings
    # Every object is built here (none does I/O when built); the contexts below open and
    # close them, so builders receive their real dependencies.
    engine = create_engine(settings.store.url, **_pool_options(settings.store.url))
    app[appkeys.ENGINE] = engine
    app[appkeys.READER] = create_reader(settings.store.url, engine)
    app[appkeys.BLOBS] = open_blob_store(
        settings.store.blob_url, settings.store.blob_dir, settings.store.url, engine
    )
    app[appkeys.BROKER] = Broker(
        settings.amqp.topology_prefix(settings.node.code), settings.amqp.delivery_shards
    )
    app[appkeys.DIRECTORY] = SqlDirectory()
    systems = SqlCallingSystems(poll_interval=settings.credentials.refresh_interval_s)
    app[appkeys.CALLING_SYSTEMS] = systems
    app[appkeys.AUTHENTICATOR] = Authenticator(systems, settings.limits, settings.admin)
    identity = load_identity(settings.node)  # PEM (maybe encrypted) or PKCS#11 token
    if identity is not None:
        app[appkeys.NODE] = identity
    else:
        log.warning("node key or certificate missing: XML receipts and status 01 disabled")
    app[appkeys.MAINTENANCE] = Maintenance()
    app[appkeys.GATEWAY] = _build_core(app, settings)
    app.cleanup_ctx.append(_store_ctx(settings))
    app.cleanup_ctx.append(systems_context(settings))
    app.cleanup_ctx.append(_directory_ctx)
    app.cleanup_ctx.append(delivery_state_metrics())
    app.cleanup_ctx.append(_broker_ctx(settings))
    app.cleanup_ctx.append(_core_ctx)
    if with_workers:
        app.cleanup_ctx.append(_workers_ctx(settings))
        link = _upstream_link(settings)
        if link is not None:
            app.cleanup_ctx.append(upstream_ctx(link))
    app.cleanup_ctx.append(
        duties_context(
            settings, with_workers=with_workers, upstream_source=upstream_directory_source(settings)
        )
    )
    _setup_ops(app, settings)
    app.add_subapp("/v1", build_rest_app())
    _mount_protocol_adapters(app, settings)
    app.add_subapp(
        "/console",
        build_console_app(checker=app[OPS_CHECKER], directory=app[appkeys.DIRECTORY]),
    )
    return app


def _setup_ops(app: web.Application, settings: Settings) -> None:
    def broker_ready() -> bool:
        broker = app.get(appkeys.BROKER)
        connection = getattr(broker, "_connection", None)
        return connection is not None and not connection.is_closed

    directory = app[appkeys.DIRECTORY]
    checks = readiness_checks(
        settings,
        engine=app[appkeys.ENGINE],
        broker_ready=broker_ready,
        directory_last_sync=lambda: directory.checked_at,
        directory_size=lambda: len(directory),
    )
    checks.append(_blob_store_check(settings.store.blob_dir))
    scanner = scanner_check(settings)
    if scanner is not None:
        checks.append(scanner)
    if uses_protected_key(settings.node):  # a token or encrypted key: prove it signs now
        checks = [c for c in checks if c.name != "node_key"]
        checks.append(signing_check(lambda: app.get(appkeys.NODE)))
    checks.append(duties_check(lambda: app.get(appkeys.DUTIES)))
    tokens = [t.get_secret_value() for t in settings.admin.tokens]
    setup_ops_routes(
        app,
        checker=HealthChecker(checks, maintenance=app[appkeys.MAINTENANCE]),
        admin_tokens=tokens,
        engine=app[appkeys.ENGINE],
    )


def _blob_store_check(root: Path) -> Check:
    """The blob directory accepts writes (a read-only volume must take the node out of service)."""

    async def probe() -> str:
        def touch() -> None:
            root.mkdir(parents=True, exist_ok=True)
            marker = root / ".readyz"
            marker.write_bytes(b"ok")
            marker.unlink()

        try:
            await asyncio.to_thread(touch)
        except OSError as exc:
            raise CheckFailed(f"blob store not writable: {exc.strerror or exc}") from exc
        return "writable"

    return Check("blobs", probe, 2.0)


def _mount_protocol_adapters(app: web.Application, settings: Settings) -> None:
    gateway = app[appkeys.GATEWAY]
    directory = app[appkeys.DIRECTORY]
    common = {
        "systems": app[appkeys.CALLING_SYSTEMS],
        "directory": directory,
        "max_packet_bytes": settings.limits.max_packet_bytes,
    }
    replays = app[appkeys.AUTHENTICATOR].replays  # one replay cache per process
    app.add_subapp("/vxp", build_vxp_app(gateway=gateway, replays=replays, **common))
    app.add_subapp(settings.hub.soap_path, build_soap_app(gateway=gateway, **common))
    app.add_subapp(settings.hub.rest_path, build_hub_rest_app(gateway=gateway, **common))
    admin = build_admin_app()
    setup_systems_routes(admin)
    app.add_subapp("/admin/v1", admin)
