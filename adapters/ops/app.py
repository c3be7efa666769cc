"""Routes of the operations endpoints and the functions that mount them.

``/healthz`` says the process is alive (no dependency is touched); ``/readyz`` runs the
readiness checks and answers 503 naming the failing ones; ``/metrics`` serves Prometheus'
text format; ``POST``/``DELETE /maintenance`` switch maintenance mode for admins (bearer
token of ``[admin] tokens``, ``gateway.credentials.admin``) and leave an audit record when a
database engine is given. The maintenance routes run the one edge (``adapters.edge``, door
``ops``): the token is checked before the body is read, every refusal is audited once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import edge
from adapters.credentials import admin_actor
from adapters.edge import Door
from gateway import appkeys
from gateway.audit import chain as audit
from gateway.credentials.admin import AdminTokens
from gateway.ops.health import HealthChecker
from gateway.ops.metrics import metrics_middleware, render

CHECKER = web.AppKey("ops_checker", HealthChecker)
ADMIN_TOKENS = web.AppKey("ops_admin_tokens", AdminTokens)
AUDIT_ENGINE = web.AppKey("ops_audit_engine", object)
_SMALL_BODY = 64 * 1024  # {"reason": ...}


def _engine(request: web.Request) -> AsyncEngine | None:
    engine = request.config_dict.get(appkeys.ENGINE) or request.app.get(AUDIT_ENGINE)
    return engine if isinstance(engine, AsyncEngine) else None


DOOR = Door("ops", engine_of=_engine)


def _admin(request: web.Request) -> str:
    """Return the admin calling (``admin:<fingerprint>[:<user>]``) or raise ``AuthError``."""
    return admin_actor(request, request.app[ADMIN_TOKENS])


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 when every check passes and maintenance is off, else 503."""
    readiness = await request.app[CHECKER].run()
    return web.json_response(
        readiness.as_dict(), status=200 if readiness.ok else 503, dumps=edge.dumps
    )


async def metrics(_request: web.Request) -> web.Response:
    """Prometheus text exposition of the gateway's registry."""
    body, content_type = render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def _audit(request: web.Request, event: str, actor: str, detail: dict[str, Any]) -> None:
    engine = _engine(request)
    if engine is not None:
        async with engine.begin() as conn:
            await audit.append(conn, event=event, actor=actor, detail=detail)


async def maintenance_on(request: web.Request) -> web.Response:
    """Switch maintenance mode on; optional JSON body ``{"reason": "..."}``."""
    actor = _admin(request)
    reason = ""
    if request.can_read_body:
        await edge.preread(request, _SMALL_BODY)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if isinstance(body, dict):
            reason = str(body.get("reason", ""))[:500]
    maintenance = request.app[CHECKER].maintenance
    maintenance.switch_on(reason, by=actor)
    await _audit(request, "maintenance.on", actor, {"reason": reason})
    return web.json_response(maintenance.as_dict(), dumps=edge.dumps)


async def maintenance_off(request: web.Request) -> web.Response:
    """Switch maintenance mode off."""
    actor = _admin(request)
    maintenance = request.app[CHECKER].maintenance
    maintenance.switch_off()
    await _audit(request, "maintenance.off", actor, {})
    return web.json_response(maintenance.as_dict(), dumps=edge.dumps)


async def maintenance_state(request: web.Request) -> web.Response:
    """Current maintenance flag (no authentication: it is also in ``/readyz``)."""
    return web.json_response(request.app[CHECKER].maintenance.as_dict(), dumps=edge.dumps)


def setup_routes(
    app: web.Application,
    *,
    checker: HealthChecker,
    admin_tokens: Iterable[str] = (),
    engine: AsyncEngine | None = None,
) -> None:
    """Add the operations routes to ``app`` at its root (``/healthz``, ``/readyz``, ...).

    ``admin_tokens`` are the plain bearer tokens allowed to switch maintenance mode;
    ``engine``, when given, receives an audit record for each switch.
    """
    app[CHECKER] = checker
    app[ADMIN_TOKENS] = AdminTokens(admin_tokens)
    if engine is not None:
        app[AUDIT_ENGINE] = engine
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/maintenance", maintenance_state)
    app.router.add_post("/maintenance", DOOR.guard(maintenance_on))
    app.router.add_delete("/maintenance", DOOR.guard(maintenance_off))


def build_ops_app(
    checker: HealthChecker,
    *,
    admin_tokens: Iterable[str] = (),
    engine: AsyncEngine | None = None,
) -> web.Application:
    """Build a stand-alone operations application (own port, or tests) with HTTP metrics."""
    app = web.Application(middlewares=[metrics_middleware()])
    setup_routes(app, checker=checker, admin_tokens=admin_tokens, engine=engine)
    return app
