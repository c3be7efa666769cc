"""The refusals of the hub doors: error → ``Report`` Error (and HTTP status), and its audit record.

Hub clients read ``Report/IsSuccess`` and show ``ErrorList/Error/Description``; ``Code`` is the
gateway's stable code (``AUTH_FAILED``, ``NOT_FOUND``, ``EDXML_SCHEMA``, ...), the description
Vietnamese then English, so the form needs no number per error. The HTTP status of the hub's
REST v2 is the one class-keyed table (:data:`HUB_REST_STATUS`, looked up along the MRO). A
duplicate packet is not a refusal: the core answers the original receipt and the door its
number. A refusal the core made while accepting a packet was audited by the core; every other
refusal at these doors is audited here, once.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from adapters.soap.context import context_of
from adapters.soap.envelope import ReportError
from edxml.errors import BilingualError
from gateway.audit.refusals import is_audited, mark_audited, record_refusal
from gateway.errors import AuthError

log = structlog.get_logger("adapters.soap")

INTERNAL = ReportError("GATEWAY_ERROR", "Lỗi hệ thống / Internal error")

HUB_REST_STATUS: dict[type[BaseException], int] = {AuthError: 401, BaseException: 200}
"""Error class → HTTP status of a hub REST v2 refusal (credentials 401, the rest 200 with
``"code": "9999"``, as the hub answers)."""


def hub_rest_status(error: BaseException) -> int:
    """The HTTP status answering ``error`` at the hub REST v2 door (first class of its MRO)."""
    return next(HUB_REST_STATUS[c] for c in type(error).__mro__ if c in HUB_REST_STATUS)


def report_error(error: BaseException) -> ReportError:
    """Return the Report ``Error`` answering ``error``; unexpected errors never leak text."""
    if isinstance(error, BilingualError):
        return ReportError(error.code, f"{error.text_vi} / {error.text_en}")
    return INTERNAL


async def audit_refusal(
    request: web.Request,
    error: BaseException,
    *,
    via: str,
    action: str | None,
    actor: str | None = None,
    claimed: str | None = None,
) -> None:
    """Write the ``rejected`` audit record of a refusal made at this door (skipped when the
    core already audited this request's refusal)."""
    if is_audited(error):
        return
    mark_audited(error)
    code = report_error(error).code
    engine = context_of(request).engine
    if engine is None:
        return
    await record_refusal(
        engine,
        actor=actor,
        outcome=code,
        detail={
            "door": via,
            "via": via,
            "action": action,
            "claimed_agency": claimed,
            "path": request.path,
            "remote": request.remote,
            "message_en": getattr(error, "text_en", None),
        },
    )
