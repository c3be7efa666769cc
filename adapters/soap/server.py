"""The Bkav eDoc hub SOAP door (default ``/services/eDoc``): one URL, dispatch on SOAPAction.

SOAP 1.1 only, ``text/xml`` or SwA ``multipart/related`` requests. The order of work keeps
unauthenticated callers cheap: only the body's head is read; for multipart, only the leading
root part is parsed (the stdlib ``email`` parser on that head); the envelope (at most
``ENVELOPE_LIMIT``) is parsed with depth and DOCTYPE refused while parsing, off the event loop
when big; the credentials it carries are checked; only then is the rest read and the attachments
parsed.
Every answer is HTTP 200 with ``edXML:{Action}Response`` (multipart when the request was, or
when attachments travel back); a refusal is a ``Report`` with ``IsSuccess=false``, audited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from adapters.soap import documents, mime, traces
from adapters.soap.calls import Action, Answer, Call, off_loop
from adapters.soap.context import ENVELOPE_LIMIT, STATE, context_of, given
from adapters.soap.envelope import (
    HubRequest,
    UnknownAction,
    answer,
    read_request,
    report,
)
from adapters.soap.lgsp import HEADER as JWT_HEADER
from adapters.soap.lgsp import LgspTrust
from adapters.soap.reading import read_head, read_rest
from adapters.soap.refusals import INTERNAL, audit_refusal, report_error
from edxml.edoc_vn import MimePart, child_text, key_info
from edxml.errors import EdxmlError
from gateway.errors import GatewayError, PayloadTooLarge
from gateway.ports import Core

log = structlog.get_logger("adapters.soap")
HEAD_BYTES = ENVELOPE_LIMIT + 2**16
"""Bytes read before the caller is authenticated: the envelope and its MIME framing."""

Credentials = Callable[[HubRequest], tuple[str, str]]
WSDL_PATH = Path(__file__).resolve().parents[2] / "schemas" / "edoc-hub.wsdl"
_PLACEHOLDER = b'location="http://localhost/services/eDoc"'
WSDL: web.AppKey[bytes] = web.AppKey("hub_wsdl", bytes)


def _in_wrapper(soap: HubRequest) -> tuple[str, str]:
    return soap.text("OrganId") or "", soap.text("Token") or ""


def _in_check_permission(soap: HubRequest) -> tuple[str, str]:
    node = soap.header_child("CheckPermission")
    if node is None:  # tolerated: some clients put it in the Body
        node = soap.wrapper
    return child_text(node, "OrganId") or "", child_text(node, "Token") or ""


def _in_key_info(soap: HubRequest) -> tuple[str, str]:
    info = key_info(soap.header)
    return (info.organ_id, info.token) if info is not None else ("", "")


@dataclass(frozen=True)
class Entry:
    """One SOAPAction: where its credentials are and what it does."""

    credentials: Credentials
    action: Action
    wrapped_errors: bool = True  # GetDocument answers a bare Report


ACTIONS: dict[str, Entry] = {
    "GetOrganizations": Entry(_in_wrapper, documents.get_organizations),
    "CheckPermission": Entry(_in_check_permission, documents.check_permission),
    "SendDocument": Entry(_in_key_info, documents.send_document),
    "GetPendingDocumentIds": Entry(_in_wrapper, documents.get_pending_document_ids),
    "GetDocument": Entry(_in_wrapper, documents.get_document, wrapped_errors=False),
    "ConfirmReceived": Entry(_in_wrapper, documents.confirm_received),
    "UpdateTraces": Entry(_in_key_info, traces.update_traces),
    "GetTraces": Entry(_in_wrapper, traces.get_traces),
}
"""SOAPAction → entry: the whole surface of the door."""


def build_soap_app(
    gateway: Core | None = None,
    *,
    systems: Iterable[Any] | None = None,
    directory: Any = None,
    max_packet_bytes: int | None = None,
    lgsp: LgspTrust | None = None,
) -> web.Application:
    """Build the hub SOAP sub-application (mount it at the configured path).

    Anything not given is taken, on the first request, from the parent application through
    ``gateway.appkeys``.
    """
    app = web.Application()
    app[STATE] = given(gateway, systems, directory, max_packet_bytes, lgsp)
    app[WSDL] = WSDL_PATH.read_bytes()
    app.router.add_route("POST", "", dispatch, name="hub_soap")
    app.router.add_route("GET", "", serve_wsdl, name="hub_wsdl")
    return app


async def serve_wsdl(request: web.Request) -> web.Response:
    """``GET <path>?wsdl``: the WSDL of the body-only actions, addressed to this endpoint."""
    if "wsdl" not in {key.lower() for key in request.query}:
        raise web.HTTPNotFound(text="GET ?wsdl for the service description")
    address = str(request.url.with_query(None)).replace("&", "&amp;").replace('"', "&quot;")
    text = request.app[WSDL].replace(_PLACEHOLDER, f'location="{address}"'.encode())
    return web.Response(body=text, content_type="text/xml", charset="utf-8")


def soap_action(request: web.Request) -> str:
    """The SOAPAction header: bare name, quotes and any URI prefix stripped."""
    value = request.headers.get("SOAPAction", "").strip().strip('"').strip()
    for separator in ("#", "/"):
        value = value.rsplit(separator, 1)[-1]
    return value


async def dispatch(request: web.Request) -> web.Response:
    """Read, authenticate, run the action, answer (a Report on every refusal)."""
    name = soap_action(request)
    entry = ACTIONS.get(name)
    multipart = False
    claimed: str | None = None
    actor: str | None = None
    try:
        ctx = context_of(request)
        content_type = request.headers.get("Content-Type", "text/xml")
        frame = mime.framing(content_type)
        multipart = frame.multipart
        head = await read_head(request, HEAD_BYTES, ctx.limit)
        if frame.multipart:
            root = await off_loop(
                len(head.data), mime.root_part, content_type, head.data, frame, head.ended
            )
        elif not head.ended or len(head.data) > ENVELOPE_LIMIT:
            raise PayloadTooLarge(f"SOAP envelope over {ENVELOPE_LIMIT} bytes")
        else:
            root = head.data
        if len(root) > ENVELOPE_LIMIT:
            raise PayloadTooLarge(f"SOAP envelope over {ENVELOPE_LIMIT} bytes")
        soap = await off_loop(len(root), read_request, root)
        if entry is None:
            raise UnknownAction(repr(name))
        organ_id, token = entry.credentials(soap)
        claimed = organ_id or None
        caller = ctx.credentials.authenticate(organ_id, token, request.headers.get(JWT_HEADER))
        caller = replace(caller, remote=request.remote)  # named in the core's audit records
        actor = caller.system_id

        async def parts() -> dict[str, MimePart]:
            if not frame.multipart:
                return {}
            body = await read_rest(request, head, ctx.limit)
            return await off_loop(len(body), mime.attachments, content_type, body, frame)

        result = await entry.action(Call(request, soap, caller, organ_id, parts))
        return _render(name, result, multipart)
    except (GatewayError, EdxmlError) as exc:
        error = report_error(exc)
        log.info("hub.soap.refused", action=name, code=error.code, claimed=claimed)
        await audit_refusal(request, exc, via="soap", action=name, actor=actor, claimed=claimed)
    except Exception as exc:  # a bug must not leak: log it, answer a generic Report
        log.exception("hub.soap.error", action=name)
        error = INTERNAL
        await audit_refusal(request, exc, via="soap", action=name, actor=actor, claimed=claimed)
    wrapped = entry is not None and entry.wrapped_errors
    payload = answer(name if wrapped else None, [report([error])])
    return _render(name, Answer(envelope=payload), multipart)


def _render(name: str, result: Answer, multipart: bool) -> web.Response:
    envelope = result.envelope if result.envelope is not None else answer(name, result.payload)
    if multipart or result.parts:
        framed = mime.multipart(envelope, result.parts)
        return web.Response(body=framed.body, headers={"Content-Type": framed.content_type})
    return web.Response(body=envelope, content_type="text/xml", charset="utf-8")
