"""Handlers of API v1: read the request, authenticate, call the core, answer. Nothing else."""

from __future__ import annotations

from aiohttp import web

from adapters import edge
from adapters.credentials import system_caller
from adapters.rest.reading import dumps
from gateway.appkeys import AUTHENTICATOR, CALLING_SYSTEMS, ENGINE, GATEWAY, NODE, SETTINGS
from gateway.core.receipts import signed_receipt_xml
from gateway.credentials.auth import Caller
from gateway.credentials.tokens import TokenName, parse_token
from gateway.credentials.tokens import revoke_token as revoke
from gateway.errors import AuthError, GatewayError

_SMALL_BODY = 64 * 1024  # tokens, acks: nothing bigger is ever needed


async def _authenticated(request: web.Request, limit: int = 0) -> tuple[Caller, bytes]:
    return await system_caller(request, request.config_dict[AUTHENTICATOR], limit)


async def _caller(request: web.Request) -> Caller:
    """The caller of a read (no body); a read made with an admin token is audited."""
    caller, _ = await _authenticated(request)
    if caller.role == "admin":
        await edge.audit_admin_read(request, "rest", caller.system_id)
    return caller


def _wants_xml(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/xml" in accept or "text/xml" in accept


async def issue_token(request: web.Request) -> web.Response:
    """POST /tokens: a signed request gets a bearer token for its system. A bearer token
    cannot mint another (tokens would never expire): only the system's secret can."""
    if request.headers.get("Authorization", "")[:7].lower() == "bearer ":
        raise AuthError("a token is minted by a signed request only, not by a token")
    caller, _ = await _authenticated(request, _SMALL_BODY)
    token, expires = request.config_dict[AUTHENTICATOR].issue_token(caller)
    name = parse_token(token)
    return web.json_response(
        {
            "token": token,
            "token_type": "Bearer",
            "expires_at": expires,
            "token_id": name.token_id if name else None,
        },
        dumps=dumps,
    )


async def revoke_token(request: web.Request) -> web.Response:
    """DELETE /tokens/{token_id}: revoke one bearer token of the caller's own system (a
    signed request, or the token itself); every gateway process refuses it within seconds."""
    caller, _ = await _authenticated(request, _SMALL_BODY)
    if caller.role != "system":
        raise AuthError("tokens are revoked by their own system (or the CLI)")
    name = TokenName(caller.system_id, request.match_info["token_id"])
    authenticator = request.config_dict[AUTHENTICATOR]
    revoked = await revoke(
        request.config_dict[ENGINE],
        name,
        actor=caller.system_id,
        token_ttl_s=authenticator.token_ttl_s,
        reason="revoked through the API",
    )
    refresh = getattr(request.config_dict.get(CALLING_SYSTEMS), "refresh", None)
    if refresh is not None:
        await refresh()  # this process refuses it now, the others at their next poll
    return web.json_response({"token_id": name.token_id, "revoked": revoked}, dumps=dumps)


async def submit(request: web.Request) -> web.Response:
    """POST /messages: accept a document or status packet; 202 receipt, 200 duplicate."""
    limit = request.config_dict[SETTINGS].limits.max_packet_bytes
    caller, body = await _authenticated(request, limit)
    receipt = await request.config_dict[GATEWAY].submit(body, caller, via="rest")
    status = 200 if receipt.duplicate else 202
    if _wants_xml(request):
        node = request.config_dict.get(NODE)
        if node is None:
            raise GatewayError("node key not configured")
        return web.Response(
            body=signed_receipt_xml(receipt, node),
            status=status,
            content_type="application/xml",
            charset="utf-8",
        )
    return web.json_response(receipt.as_dict(), status=status, dumps=dumps)


def _limit(request: web.Request) -> int:
    maximum = request.config_dict[SETTINGS].limits.inbox_max_limit
    try:
        return max(1, min(int(request.query.get("limit", "100")), maximum))
    except ValueError:
        return 100


async def inbox(request: web.Request) -> web.Response:
    """GET /inbox?after=&limit=: deliveries waiting for the caller's agencies."""
    caller = await _caller(request)
    items = await request.config_dict[GATEWAY].inbox(
        caller, after=request.query.get("after") or None, limit=_limit(request)
    )
    next_cursor = items[-1].cursor if items else request.query.get("after")
    return web.json_response(
        {"items": [i.as_dict() for i in items], "next": next_cursor}, dumps=dumps
    )


async def sent(request: web.Request) -> web.Response:
    """GET /sent?after=&limit=: messages the caller's agencies sent, newest first."""
    caller = await _caller(request)
    rows = await request.config_dict[GATEWAY].sent(
        caller, after=request.query.get("after") or None, limit=_limit(request)
    )
    return web.json_response({"items": [r.as_dict() for r in rows]}, dumps=dumps)


async def fetch(request: web.Request) -> web.Response:
    """GET /messages/{id}: the packet bytes, for its sender and recipients only."""
    caller = await _caller(request)
    data = await request.config_dict[GATEWAY].fetch(caller, request.match_info["message_id"])
    return web.Response(body=data, content_type="application/xml", charset="utf-8")


async def ack(request: web.Request) -> web.Response:
    """POST /messages/{id}/ack: the recipient confirms arrival (the core emits status 01)."""
    caller, _ = await _authenticated(request, _SMALL_BODY)
    acked = await request.config_dict[GATEWAY].ack(caller, request.match_info["message_id"])
    return web.json_response({"acked": acked}, dumps=dumps)


async def trace(request: web.Request) -> web.Response:
    """GET /messages/{id}/trace: per-recipient delivery state and status history."""
    caller = await _caller(request)
    result = await request.config_dict[GATEWAY].trace(caller, request.match_info["message_id"])
    return web.json_response(result.as_dict(), dumps=dumps)
