"""Chuyển phát lỗi (parked deliveries): the list with the last error, replay with a
confirmation step (operator and admin)."""

from __future__ import annotations

from aiohttp import web

from adapters.console.web import actor, render, require
from gateway import appkeys
from gateway.core import operator_reads as repo
from gateway.delivery.replay import replay_parked

LIST_LIMIT = 500


async def parked(request: web.Request) -> web.Response:
    """List parked deliveries, oldest first, with the message they belong to."""
    engine = request.config_dict[appkeys.ENGINE]
    async with engine.connect() as conn:
        rows = await repo.parked(conn, limit=LIST_LIMIT)
        messages = {m: await repo.get_message(conn, m) for m in {r.message_id for r in rows}}
    done = request.query.get("replayed")
    return render(
        request,
        "parked.html",
        {"rows": rows, "messages": messages, "replayed": done, "limit": LIST_LIMIT},
    )


async def replay(request: web.Request) -> web.StreamResponse:
    """``POST id=<delivery id>`` (repeatable) or ``id=all``: first a confirmation page,
    then, with ``confirm=yes``, the replay."""
    require(request, "operator")
    form = await request.post()
    ids = [str(v) for v in form.getall("id", []) if str(v).strip()]
    everything = ids == ["all"]
    engine = request.config_dict[appkeys.ENGINE]
    if form.get("confirm") != "yes":
        async with engine.connect() as conn:
            rows = await repo.parked(conn, limit=LIST_LIMIT)
        chosen = rows if everything else [r for r in rows if r.id in set(ids)]
        return render(request, "replay_confirm.html", {"rows": chosen, "all": everything})
    broker = request.config_dict[appkeys.BROKER]
    done = await replay_parked(engine, broker, None if everything else ids, actor=actor(request))
    raise web.HTTPSeeOther(f"/console/parked?replayed={len(done)}")
