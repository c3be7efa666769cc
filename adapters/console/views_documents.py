"""Văn bản (documents): search, one document's whole story, packet download."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from adapters.console.web import VN, PageNotFound, actor, record, render
from edxml.parse import parse
from gateway import appkeys
from gateway.audit import chain as audit
from gateway.core import operator_reads as queries
from gateway.core import operator_reads as repo
from gateway.core.operator_reads import DELIVERY_STATES
from gateway.credentials.auth import Caller
from gateway.errors import NotFound

PARSE_LIMIT = 20 * 2**20  # larger packets are shown without their parsed header


def _day(value: str, *, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` date of the form, as the Vietnam-time midnight starting (or, for
    ``end``, ending) that day; ``None`` when empty or not a date."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=VN)


def _console_caller(request: web.Request) -> Caller:
    """Operators see every message: the core's admin role, named after the operator."""
    return Caller(actor(request), frozenset(), "off", "admin")


async def documents(request: web.Request) -> web.Response:
    """Search: ``?q=TEXT&agency=CODE&from=DATE&to=DATE&state=STATE&kind=document``."""
    q = request.query.get("q", "").strip()
    agency = request.query.get("agency", "").strip().upper()
    start, end = _day(request.query.get("from", "")), _day(request.query.get("to", ""), end=True)
    state = request.query.get("state", "")
    state = state if state in DELIVERY_STATES else ""
    kind = request.query.get("kind", "document")
    kind = kind if kind in ("document", "status", "") else "document"
    engine = request.config_dict[appkeys.ENGINE]
    async with engine.connect() as conn:
        rows = await queries.search_messages(
            conn, text=q, agency=agency, start=start, end=end, state=state, kind=kind
        )
        recipients = await queries.recipients_of(conn, [r.id for r in rows])
    return render(
        request,
        "documents.html",
        {
            "rows": rows,
            "recipients": recipients,
            "states": DELIVERY_STATES,
            "form": {
                "q": q,
                "agency": agency,
                "from": request.query.get("from", ""),
                "to": request.query.get("to", ""),
                "state": state,
                "kind": kind,
            },
        },
    )


def _parsed(raw: bytes) -> Any:
    try:
        return parse(raw)
    except Exception:  # an unreadable packet still has its trace shown
        return None


async def document(request: web.Request) -> web.Response:
    """One message: receipt, signature verdicts, deliveries, statuses, hops, audit."""
    message_id = request.match_info["message_id"]
    gateway = request.config_dict[appkeys.GATEWAY]
    caller = _console_caller(request)
    try:
        trace = await gateway.trace(caller, message_id)
    except NotFound as exc:
        raise PageNotFound(message_id) from exc
    engine = request.config_dict[appkeys.ENGINE]
    async with engine.connect() as conn:
        message = await repo.get_message(conn, message_id)
        records = await audit.entries(conn, message_id=message_id, limit=500)
    assert message is not None
    packet = None
    if message.size <= PARSE_LIMIT:
        packet = await asyncio.to_thread(_parsed, await gateway.fetch(caller, message_id))
    try:
        receipt = json.loads(message.receipt_json or "{}")
    except ValueError:
        receipt = {}
    return render(
        request,
        "document.html",
        {
            "trace": trace,
            "message": message,
            "receipt": receipt,
            "receipt_json": json.dumps(receipt, ensure_ascii=False, indent=2),
            "packet": packet,
            "records": records,
        },
    )


async def packet(request: web.Request) -> web.StreamResponse:
    """Download the stored packet as sent (recorded in the audit chain)."""
    message_id = request.match_info["message_id"]
    gateway = request.config_dict[appkeys.GATEWAY]
    try:
        raw = await gateway.fetch(_console_caller(request), message_id)
    except NotFound as exc:
        raise PageNotFound(message_id) from exc
    await record(request, "console.download", message_id=message_id, detail={"via": "console"})
    return web.Response(
        body=raw,
        content_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{message_id}.edxml"'},
    )
