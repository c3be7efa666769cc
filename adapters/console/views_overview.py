"""Tổng quan (overview): readiness, today's traffic, the hourly chart, backlog,
certificate expiry, directory freshness; the maintenance switch (operator+)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

from aiohttp import web
from markupsafe import Markup

from adapters.console.chart import bars_svg
from adapters.console.i18n import lang_of, translate
from adapters.console.web import CHECKER, VN, actor, record, render, require
from gateway import appkeys
from gateway.core import operator_reads as queries
from gateway.core.operator_reads import reading as transaction
from gateway.directory.resolver import InMemoryDirectory
from gateway.ops import alerts, certs


async def overview(request: web.Request) -> web.Response:
    """The overview page."""
    engine = request.config_dict[appkeys.ENGINE]
    settings = request.config_dict[appkeys.SETTINGS]
    directory = cast(InMemoryDirectory, request.config_dict[appkeys.DIRECTORY])
    readiness = await request.app[CHECKER].run()
    now = datetime.now(UTC)
    midnight = now.astimezone(VN).replace(hour=0, minute=0, second=0, microsecond=0)
    async with engine.connect() as conn:
        docs_in = await queries.documents_between(conn, midnight, now + timedelta(seconds=1))
        docs_out = await queries.delivered_between(conn, midnight, now + timedelta(seconds=1))
        slots, series_in, series_out = await queries.hourly(conn, since=now - timedelta(hours=23))
        backlog = await queries.backlog(conn)
        acks = await alerts.acknowledgements(conn, now=now)
    lang = lang_of(request)
    chart = bars_svg(
        slots,
        [
            (translate(lang, "ov.in"), "bar-in", series_in),
            (translate(lang, "ov.out"), "bar-out", series_out),
        ],
        title=translate(lang, "ov.chart"),
    )
    names = certs.certificate_names(settings.node.cert_file, tuple(settings.trust.anchors))
    certificates = [certs.inspect_certificate(n, p, now=now) for n, p in names.items()]
    raised = alerts.current_alerts(
        readiness,
        parked=backlog.parked,
        certificates=certificates,
        directory_checked_at=getattr(directory, "checked_at", None),
        now=now,
    )
    return render(
        request,
        "overview.html",
        {
            "readiness": readiness,
            "alerts": alerts.with_acknowledgements(raised, acks),
            "docs_in": docs_in,
            "docs_out": docs_out,
            "chart": Markup(chart),  # built here from numbers; labels are escaped
            "backlog": backlog,
            "certificates": certificates,
            "directory": {
                "size": len(directory),
                "version": getattr(directory, "version", None),
                "checked_at": getattr(directory, "checked_at", None),
            },
            "now": now,
        },
    )


async def maintenance(request: web.Request) -> web.StreamResponse:
    """Switch maintenance mode on or off (operator and admin)."""
    require(request, "operator")
    form = await request.post()
    flag = request.app[CHECKER].maintenance
    if form.get("on") == "1":
        reason = str(form.get("reason", ""))[:500]
        flag.switch_on(reason, by=actor(request))
        await record(request, "maintenance.on", detail={"via": "console", "reason": reason})
    else:
        flag.switch_off()
        await record(request, "maintenance.off", detail={"via": "console"})
    raise web.HTTPSeeOther("/console/")


async def acknowledge(request: web.Request) -> web.StreamResponse:
    """Acknowledge an alert (operator and admin); recorded in the audit chain."""
    require(request, "operator")
    form = await request.post()
    key = str(form.get("key", "")).strip()[:100]
    if not key:
        raise web.HTTPSeeOther("/console/")
    async with transaction(request.config_dict[appkeys.ENGINE]) as conn:
        await alerts.acknowledge(
            conn, key, actor=actor(request), note=str(form.get("note", ""))[:300]
        )
    raise web.HTTPSeeOther("/console/")
