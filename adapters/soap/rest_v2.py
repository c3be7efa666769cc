"""The Bkav eDoc hub's REST v2 (default ``/EdocService/*``): QCVN 102 packets as JSON calls.

Headers ``organid`` + ``authorization`` (the agency's token) authenticate every call, checked
before any body is read; a failure is HTTP 401 with ``"code":"9999"``. Otherwise HTTP 200
with ``{"status","code":"0"|"9999","errors":[{code,description}]}``; ``errors[].code`` is the
gateway's stable code. Unlike the hub, ``getDocument`` answers only the document's sender
and recipients (the core decides), and document ids are the same numbers as the SOAP door's.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any

import structlog
from aiohttp import web

from adapters.bodies import read_bounded
from adapters.soap.calls import message_of, number_of
from adapters.soap.context import STATE, HubContext, context_of, given
from adapters.soap.lgsp import HEADER as JWT_HEADER
from adapters.soap.lgsp import LgspTrust
from adapters.soap.refusals import audit_refusal, hub_rest_status, report_error
from edxml.errors import EdxmlError
from gateway.core import hub_numbers as hub_ids
from gateway.credentials.auth import Caller
from gateway.errors import Forbidden, GatewayError, RequestInvalid
from gateway.ports import Core

log = structlog.get_logger("adapters.soap.rest")
PAGE = 500

Handler = Callable[[web.Request, HubContext, Caller, str], Awaitable[dict[str, Any]]]


def _ok(**data: Any) -> dict[str, Any]:
    return {"status": "OK", "code": "0", "errors": [], **data}


def _type(request: web.Request) -> str:
    kind = (request.headers.get("type") or "EDOC").strip().upper()
    if kind not in ("EDOC", "STATUS"):
        raise RequestInvalid("header type must be EDOC or STATUS")
    return kind


def _docid(request: web.Request) -> int:
    text = (request.headers.get("docid") or "").strip()
    return int(text) if text.isdigit() and len(text) < 19 else 0


async def send_document(
    request: web.Request, ctx: HubContext, caller: Caller, organ: str
) -> dict[str, Any]:
    """sendDocument: a raw QCVN 102 file (``type`` EDOC or STATUS) through the core."""
    _type(request)  # the packet itself tells a document from a status; the header is checked
    raw = await read_bounded(request, ctx.limit)
    receipt = await ctx.core.submit(raw, caller, via="hub-rest")
    return _ok(docId=await number_of(ctx, receipt.message_id))


async def get_pending(
    request: web.Request, ctx: HubContext, caller: Caller, organ: str
) -> dict[str, Any]:
    """getPendingDocIds: delivered, unconfirmed documents (or statuses) of ``organid``."""
    kind = "document" if _type(request) == "EDOC" else "status"
    data: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await ctx.core.inbox(caller, after=after, limit=PAGE)
        for item in page:
            if item.kind == kind and item.recipient == organ:
                data.append({"docId": await number_of(ctx, item.message_id), "organId": organ})
        if len(page) < PAGE:
            break
        after = page[-1].cursor
    return _ok(data=data)


async def get_document(
    request: web.Request, ctx: HubContext, caller: Caller, organ: str
) -> dict[str, Any]:
    """getDocument: the stored QCVN 102 packet, base64, for its sender and recipients only."""
    message_id = await message_of(ctx, _docid(request))
    raw = await ctx.core.fetch(caller, message_id)
    return _ok(data=base64.b64encode(raw).decode("ascii"))


async def confirm_received(
    request: web.Request, ctx: HubContext, caller: Caller, organ: str
) -> dict[str, Any]:
    """confirmReceived: the core acknowledges arrival (status 01 to the sender, once)."""
    message_id = await message_of(ctx, _docid(request))
    await ctx.core.ack(caller, message_id)
    return _ok()


async def get_organizations(
    request: web.Request, ctx: HubContext, caller: Caller, organ: str
) -> dict[str, Any]:
    """getOrganizations: active agencies of the directory (``?organId=`` picks one)."""
    wanted = request.query.get("organId")
    found = []
    for agency in sorted(ctx.directory or (), key=lambda a: a.code):
        if agency.status != "active" or (wanted and agency.code != wanted):
            continue
        found.append({"organId": agency.code, "organName": agency.name, "email": agency.mail})
    return _ok(organizations=found)


async def check_exist(
    request: web.Request, ctx: HubContext, caller: Caller, organ: str
) -> dict[str, Any]:
    """checkExistDocument: did ``fromOrgan`` send ``docCode`` to every ``#``-joined
    ``toOrgan``? Asked only about the caller's own agencies."""
    try:
        query = json.loads(await read_bounded(request, 64 * 1024))
        sender = str(query["fromOrgan"])
        code = str(query["docCode"])
        to = [c for c in str(query.get("toOrgan") or "").split("#") if c]
    except (ValueError, KeyError, TypeError) as exc:
        raise RequestInvalid("body must be JSON {fromOrgan, toOrgan, docCode}") from exc
    mine = ctx.credentials.agencies_of(caller.system_id)
    if sender not in mine and not set(to) & mine:
        raise Forbidden("fromOrgan or toOrgan must be an agency of the caller")
    sent = await hub_ids.find_sent(ctx.engine, sender, code)
    exists = any(all(c in codes for c in to) for _, codes in sent)
    return {**_ok(isExist=exists), "code": "200"}


ROUTES: dict[str, tuple[str, Handler]] = {
    "sendDocument": ("POST", send_document),
    "getPendingDocIds": ("GET", get_pending),
    "getDocument": ("POST", get_document),
    "confirmReceived": ("POST", confirm_received),
    "getOrganizations": ("GET", get_organizations),
    "checkExistDocument": ("POST", check_exist),
}


def build_hub_rest_app(
    gateway: Core | None = None,
    *,
    systems: Iterable[Any] | None = None,
    directory: Any = None,
    max_packet_bytes: int | None = None,
    lgsp: LgspTrust | None = None,
) -> web.Application:
    """Build the hub REST v2 sub-application (mount it at the configured path)."""
    app = web.Application()
    app[STATE] = given(gateway, systems, directory, max_packet_bytes, lgsp)
    for name, (method, handler) in ROUTES.items():
        app.router.add_route(method, f"/{name}", _endpoint(name, handler), name=f"hub_{name}")
    return app


def _endpoint(name: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def endpoint(request: web.Request) -> web.Response:
        ctx = context_of(request)
        organ = (request.headers.get("organid") or "").strip()
        token = (request.headers.get("authorization") or "").strip()
        token = token[7:].strip() if token[:7].lower() == "bearer " else token
        actor: str | None = None
        try:
            caller = ctx.credentials.authenticate(organ, token, request.headers.get(JWT_HEADER))
            caller = replace(caller, remote=request.remote)  # named in the core's audit records
            actor = caller.system_id
            return web.json_response(await handler(request, ctx, caller, organ))
        except (GatewayError, EdxmlError) as exc:
            error = report_error(exc)
            status = hub_rest_status(exc)
            await audit_refusal(
                request, exc, via="hub-rest", action=name, actor=actor, claimed=organ or None
            )
        except Exception as exc:  # a bug must not leak: log it, answer a generic error
            log.exception("hub.rest.error", action=name)
            error, status = report_error(exc), 200
            await audit_refusal(
                request, exc, via="hub-rest", action=name, actor=actor, claimed=organ or None
            )
        body = {
            "status": "FAIL",
            "code": "9999",
            "errors": [{"code": error.code, "description": error.description}],
        }
        return web.json_response(body, status=status)

    return endpoint
