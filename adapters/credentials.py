"""How an HTTP door learns who calls, from the headers first (``gateway.credentials``).

The one thin adapter over the credentials of the core: :func:`system_caller` for the native
API (bearer/admin token from the headers; a signed request's headers checked before the body
is read, its MAC verified over the body read bounded and timed), :func:`admin_actor` for
every admin door (admin API, maintenance switch). Both name the caller on the request for
the edge's audit records (``adapters.edge``).
"""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from adapters.bodies import read_bounded
from gateway.credentials.admin import USER_HEADER, AdminTokens
from gateway.credentials.auth import Authenticator, Caller

CALLER = web.RequestKey("edge_caller", str)  # the authenticated actor, for audit records


def set_caller(request: web.Request, actor: str) -> None:
    """Name the authenticated caller of this request (its refusals' audit actor)."""
    request[CALLER] = actor


async def system_caller(
    request: web.Request, authenticator: Authenticator, limit: int = 0
) -> tuple[Caller, bytes]:
    """Authenticate from the headers first; only then read the body (bounded by ``limit``
    and the read timeout; ``0``: no body) and verify a signature over it."""
    first = authenticator.check_headers(request.method, request.raw_path, request.headers)
    body = await read_bounded(request, limit) if limit and request.can_read_body else b""
    caller = first if isinstance(first, Caller) else authenticator.finish(first, body)
    set_caller(request, caller.system_id)
    return replace(caller, remote=request.remote), body


def admin_actor(request: web.Request, tokens: AdminTokens) -> str:
    """The admin calling (``admin:<fingerprint>[:<user>]``) or ``AuthError``; no body read."""
    headers = request.headers
    actor = tokens.check(headers.get("Authorization", ""), headers.get(USER_HEADER, ""))
    set_caller(request, actor)
    return actor
