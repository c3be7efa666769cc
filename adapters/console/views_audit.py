"""Nhật ký (audit): search the chain by time, door, caller and code; verify the chain."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web

from adapters.console.web import VN, record, render
from gateway import appkeys
from gateway.audit import chain as audit
from gateway.audit import query as audit_query


def _when(value: str) -> datetime | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM`` in Vietnam time, or an ISO instant with zone."""
    value = value.strip()
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at.replace(tzinfo=VN) if at.tzinfo is None else at.astimezone(UTC)


async def audit_page(request: web.Request) -> web.Response:
    """``?since=TIME&until=TIME&door=&caller=&code=&event=``, newest first."""
    q = request.query
    form = {k: q.get(k, "").strip() for k in ("since", "until", "door", "caller", "code", "event")}
    engine = request.config_dict[appkeys.ENGINE]
    async with engine.connect() as conn:
        rows = await audit_query.search(
            conn,
            since=_when(form["since"]),
            until=_when(form["until"]),
            door=form["door"],
            caller=form["caller"],
            code=form["code"],
            event=form["event"],
            limit=300,
        )
    return render(request, "audit.html", {"rows": rows, "form": form, "verdict": None})


async def verify(request: web.Request) -> web.Response:
    """Check the whole chain and show the result (the check itself is audited)."""
    engine = request.config_dict[appkeys.ENGINE]
    started = time.perf_counter()
    async with engine.connect() as conn:
        problems = await audit.verify_chain(conn)
        count = await audit_query.count(conn)
        latest = await audit_query.search(conn, limit=100)
    elapsed = time.perf_counter() - started
    await record(
        request,
        "audit.verified",
        outcome="ok" if not problems else "AUDIT_CHAIN_BROKEN",
        detail={"via": "console", "problems": problems[:20]},
    )
    verdict = {"problems": problems, "count": count, "seconds": elapsed}
    form = dict.fromkeys(("since", "until", "door", "caller", "code", "event"), "")
    return render(request, "audit.html", {"rows": latest, "form": form, "verdict": verdict})
