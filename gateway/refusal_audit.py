"""Every refused request leaves an audit record, whichever layer refused it.

The core audits the packets it rejects itself (with the packet's hash and the error path).
Refusals made earlier, at the edge (authentication, replay, body size, protocol envelope,
admin credentials), are audited here: an aiohttp middleware on the root application writes
one ``rejected`` record for a 4xx answer unless the core already wrote one for this request,
which it signals through :func:`mark_audited` (a context variable: one request is one task).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import batch as audit_batch
from gateway.audit import chain as audit
from gateway.errors import GatewayError

log = structlog.get_logger(__name__)

_AUDITED: ContextVar[bool] = ContextVar("edoc_refusal_audited", default=False)
_SOAP_FAULT_CODE = re.compile(rb"<(?:\w+:)?(?:faultstring|Text)[^>]*>([^<]{1,200})<")
_IGNORED = frozenset({404, 405})  # unmatched routes and methods: scanners, not callers

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def mark_audited() -> None:
    """Record that the current request's refusal already has its audit record."""
    _AUDITED.set(True)


def error_code(body: bytes | None) -> str:
    """Extract the machine-readable error code from a refusal body (REST, VXP or SOAP)."""
    if not body:
        return "UNKNOWN"
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        match = _SOAP_FAULT_CODE.search(body)
        return match.group(1).decode("utf-8", "replace").split(":")[0] if match else "UNKNOWN"
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("code"):
            return str(error["code"])
        for key in ("code", "ErrorCode"):
            if data.get(key):
                return str(data[key])
    return "UNKNOWN"


def refusal_audit_middleware(
    engine_of: Callable[[web.Request], AsyncEngine | None],
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Return a middleware auditing 4xx answers that the core has not audited itself."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        _AUDITED.set(False)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if 400 <= exc.status < 500 and exc.status not in _IGNORED and not _AUDITED.get():
                await _write(engine_of(request), request, exc.status, error_code(exc.body))
            raise
        status = response.status
        if 400 <= status < 500 and status not in _IGNORED and not _AUDITED.get():
            body = response.body if isinstance(response, web.Response) else None
            await _write(engine_of(request), request, status, error_code(_as_bytes(body)))
        return response

    return middleware


def _as_bytes(body: object) -> bytes | None:
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return None


async def _write(engine: AsyncEngine | None, request: web.Request, status: int, code: str) -> None:
    if engine is None:
        return
    # Unauthenticated: what the caller claimed to be, kept as detail, never as the actor.
    claimed = request.headers.get("X-Edoc-System") or request.headers.get("XroadVnpt-systemid")
    event = audit.Event(
        "rejected",
        outcome=code,
        detail={
            "via": "edge",
            "claimed_system": claimed,
            "method": request.method,
            "path": request.path,
            "status": status,
            "remote": request.remote,
        },
    )
    try:
        await audit_batch.record(engine, event)  # shares a transaction with other writes
    except GatewayError as exc:
        log.error("cannot audit a refusal", code=code, error=str(exc))


def is_audited() -> bool:
    """Return whether the current request's refusal already has its audit record."""
    return _AUDITED.get()
