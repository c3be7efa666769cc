"""The axis-compatible REST endpoint (VXP, SPEC §6): existing QLVB systems switch URL, not code.

Every operation is ``POST|GET /<op>`` with its parameters in signed ``XroadVnpt-`` headers
(:mod:`adapters.vxp.signing`, checked per the calling system's profile by
:mod:`adapters.vxp.auth`) and a JSON answer ``{status, ErrorCode, ErrorDesc, …}`` with HTTP
200, as the axis SDK expects (interop/VXP-SDK.md): the three fields are always strings, no
field is ever JSON ``null``, a ``sendEdoc`` answer always has ``DocId`` and is ASCII-escaped
(the SDK decodes it as US-ASCII); only ``downloadEdoc`` answers raw bytes. Handlers
(:mod:`adapters.vxp.mailbox`, :mod:`adapters.vxp.agencies`) translate to the core and the
directory; refusals map to VXP numbers in :mod:`adapters.vxp.errors` and each leaves one
audit record (:mod:`adapters.vxp.refusals`, or the core's own for a refused packet).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog
from aiohttp import web

from adapters.vxp import agencies, mailbox
from adapters.vxp import errors as vxp
from adapters.vxp.accounts import SystemLike
from adapters.vxp.auth import SystemRecord, authenticate, claimed_system
from adapters.vxp.context import STATE, AgencyRegistry, VxpContext, context_of
from adapters.vxp.refusals import RefusalSink, VxpRefusal
from adapters.vxp.signing import VIETNAM, SignedRequest
from edxml.errors import EdxmlError
from gateway.credentials.auth import Caller
from gateway.credentials.replay import ReplayCache
from gateway.errors import GatewayError, RequestInvalid
from gateway.ports import Core

log = structlog.get_logger("adapters.vxp")

Answer = dict[str, Any] | web.StreamResponse
Handler = Callable[[web.Request, SignedRequest, Caller], Awaitable[Answer]]


def build_vxp_app(
    gateway: Core | None = None,
    *,
    systems: Iterable[SystemLike] | None = None,
    directory: Any = None,
    registry: AgencyRegistry | None = None,
    skew: timedelta | None = None,
    max_packet_bytes: int | None = None,
    clock: Callable[[], datetime] | None = None,
    sink: RefusalSink | None = None,
    replays: ReplayCache | None = None,
) -> web.Application:
    """Build the VXP sub-application (mount it at ``/vxp``).

    Anything not given is taken, on the first request, from the parent application through
    ``gateway.appkeys`` (``GATEWAY``, ``DIRECTORY``, ``ENGINE``, ``SETTINGS``: systems, clock
    skew and packet limit). ``directory`` answers the agency lists (iterable of
    ``gateway.directory.resolver.Agency``); ``registry`` backs ``registerAgency``/``deleteAgency``
    (refused when absent); ``sink`` records refusals (default: the audit chain); ``replays``
    is the process's one replay cache, which the ``strict`` profile records in (default: a
    cache of the door's own).
    """
    app = web.Application()
    app[STATE] = {
        "given": {
            "core": gateway,
            "systems": systems,
            "directory": directory,
            "registry": registry,
            "skew": skew,
            "max": max_packet_bytes,
            "clock": clock,
            "sink": sink,
            "replays": replays,
        }
    }
    for name, handler in ROUTES.items():
        app.router.add_route("*", f"/{name}", _endpoint(name, handler), name=name)
    return app


def _endpoint(op: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        context = context_of(request)
        claimed = claimed_system(request.headers)
        system: SystemRecord | None = None
        try:
            if request.method not in ("GET", "POST"):
                raise RequestInvalid(f"VXP operations are GET or POST, not {request.method}")
            signed, system = _authenticate(request, context)
            answer = await handler(request, signed, system.caller)
        except mailbox.CoreRefused as refused:  # audited by the core where it decided
            log.info("vxp.refused", op=op, code=refused.error.code, detail=refused.error.detail)
            answer = vxp.fail_body(refused.error)
        except (GatewayError, EdxmlError) as exc:
            log.info("vxp.refused", op=op, code=exc.code, detail=exc.detail)
            await _record(
                context.sink,
                VxpRefusal(
                    op=op,
                    code=exc.code,
                    vxp_code=vxp.vxp_error_code(exc),
                    message_en=str(exc),  # with the reason, which the answer never carries
                    claimed_system=system.id if system is not None else claimed,
                    authenticated=system is not None,
                    remote=request.remote,
                    body=request.get(mailbox.BODY_KEY),
                ),
            )
            answer = vxp.fail_body(exc)
        except Exception:
            log.exception("vxp.error", op=op)
            answer = vxp.fail_body(RuntimeError())
        if isinstance(answer, web.StreamResponse):
            return answer
        return _json_answer(op, answer)

    return endpoint


async def _record(sink: RefusalSink, refusal: VxpRefusal) -> None:
    # The answer must go out whatever happens to the audit write (it logs its own failures).
    try:
        await sink.record(refusal)
    except Exception:
        log.exception("vxp.refusal_audit_error", op=refusal.op, code=refusal.code)


def _json_answer(op: str, answer: dict[str, Any]) -> web.Response:
    body = vxp.readable(answer)
    if op == "sendEdoc":
        body.setdefault("DocId", "")
        text = json.dumps(body, ensure_ascii=True)
    else:
        text = json.dumps(body, ensure_ascii=False)
    return web.Response(text=text, content_type="application/json", charset="utf-8")


def _authenticate(request: web.Request, context: VxpContext) -> tuple[SignedRequest, SystemRecord]:
    return authenticate(
        request.headers,
        request.remote,
        context.accounts.record,
        now=context.clock() if context.clock else datetime.now(VIETNAM),
        skew=context.skew,
        replay_guard=context.guard,
    )


ROUTES: dict[str, Handler] = {
    "sendEdoc": mailbox.send_edoc,
    "getReceivedEdocList": mailbox.get_received_edoc_list,
    "getEdoc": mailbox.get_edoc,
    "downloadEdoc": mailbox.download_edoc,
    "updateStatus": mailbox.update_status,
    "getSentEdocList": mailbox.get_sent_edoc_list,
    "countReceiveEdoc": mailbox.count_receive_edoc,
    "countReceiveStatus": mailbox.count_receive_status,
    "getAgenciesList": agencies.get_agencies_list,
    "getAgenciesListQD20": agencies.get_agencies_list_qd20,
    "getSynchronizeUnit": agencies.get_synchronize_unit,
    "registerAgency": agencies.register_agency,
    "deleteAgency": agencies.delete_agency,
}
"""Operation name → handler: the whole VXP surface."""
