"""The console sub-application: routes, templates, static files, session store.

Mounted by the composition root at ``/console``. Plain HTML forms and links do all the
work (no script is needed: confirmation steps are pages of their own, charts are SVG drawn
on the server), so the console runs offline, passes a strict Content-Security-Policy and
keeps working in any browser an agency has.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from adapters.console import (
    views_audit,
    views_auth,
    views_directory,
    views_documents,
    views_operators,
    views_overview,
    views_parked,
    views_reports,
    views_systems,
)
from adapters.console.session import RateLimiter, SessionStore
from adapters.console.web import CHECKER, INDEX, LIMITER, SESSIONS, console_middleware, local
from gateway.directory.search import DirectoryIndex
from gateway.ops.health import HealthChecker

HERE = Path(__file__).parent


async def _home(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/console/")


def build_console_app(
    *,
    checker: HealthChecker,
    directory: object,
    idle_timeout_s: float = 900.0,
    login_limit: int = 10,
    login_window_s: float = 300.0,
) -> web.Application:
    """Build the console application (mount it at ``/console``)."""
    app = web.Application(middlewares=[console_middleware])
    app[CHECKER] = checker
    app[SESSIONS] = SessionStore(idle_s=idle_timeout_s)
    app[LIMITER] = RateLimiter(limit=login_limit, window_s=login_window_s)
    app[INDEX] = DirectoryIndex(directory)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["local"] = local
    r = app.router
    r.add_get("/", views_overview.overview)
    r.add_post("/maintenance", views_overview.maintenance)
    r.add_post("/alerts/ack", views_overview.acknowledge)
    r.add_get("/login", views_auth.login_form)
    r.add_post("/login", views_auth.login)
    r.add_post("/logout", views_auth.logout)
    r.add_get("/lang", views_auth.switch_language)
    r.add_get("/documents", views_documents.documents)
    r.add_get("/documents/{message_id}", views_documents.document)
    r.add_get("/documents/{message_id}/packet", views_documents.packet)
    r.add_get("/parked", views_parked.parked)
    r.add_post("/parked/replay", views_parked.replay)
    r.add_get("/directory", views_directory.directory)
    r.add_get("/directory/import", views_directory.import_form)
    r.add_post("/directory/import", views_directory.import_preview)
    r.add_post("/directory/import/apply", views_directory.import_apply)
    r.add_get("/directory/{code}", views_directory.agency)
    r.add_post("/directory/{code}/endpoint", views_directory.set_endpoint)
    r.add_post("/directory/{code}/systems", views_directory.systems)
    r.add_get("/systems", views_systems.systems)
    r.add_post("/systems", views_systems.add)
    r.add_post("/systems/{system_id}/rotate", views_systems.rotate)
    r.add_post("/systems/{system_id}/disable", views_systems.disable)
    r.add_get("/audit", views_audit.audit_page)
    r.add_post("/audit/verify", views_audit.verify)
    r.add_get("/reports/activity", views_reports.activity)
    r.add_get("/operators", views_operators.operators_page)
    r.add_post("/operators", views_operators.change)
    r.add_static("/static/", HERE / "static", name="static")
    return app
