"""The one edge every HTTP door runs: bounded body read → authenticate → core → render.

A door (``rest`` for ``/v1``, ``admin`` for ``/admin/v1``, ``ops`` for ``/maintenance``; the
VXP and hub doors use :func:`read_body` and the error tables the same way) authenticates from
headers first where its protocol allows, reads the body only then, bounded by its cap and by
the read timeout (``[limits] read_timeout_s``: a slow body is ``REQUEST_TIMEOUT`` 408), calls
the core, and renders a refusal in its own error form. Refusals are looked up in tables keyed
by error **class** along the class hierarchy (:class:`ErrorTable`), so a new error class gets
its parent's answer at every door and a test fails if that answer is wrong.

Every refusal a door renders is audited here, where the door decides it, exactly once (door,
caller, code, remote address): an error the core already audited carries the mark of
``gateway.audit.refusals`` and is not written again. Nothing parses a response body.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.bodies import read_bounded
from adapters.credentials import CALLER
from edxml import errors as edxml
from edxml.errors import BilingualError
from gateway import appkeys
from gateway import errors as core
from gateway.audit import batch as audit_batch
from gateway.audit import chain as audit
from gateway.audit.refusals import Refusal, audit_refusal
from gateway.credentials import operators
from gateway.credentials import registry as systems
from gateway.legal import errors as legal

log = structlog.get_logger(__name__)

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ErrorTable(Generic[T]):
    """Error class → a door's answer, looked up along the error's MRO (first class found)."""

    def __init__(self, entries: Mapping[type[BaseException], T]) -> None:
        self.entries = dict(entries)

    def source(self, error: type[BaseException]) -> type[BaseException] | None:
        """The class of ``error``'s MRO whose entry answers it (``None``: no entry at all)."""
        return next((c for c in error.__mro__ if c in self.entries), None)

    def __getitem__(self, error: BaseException) -> T:
        cls = self.source(type(error))
        if cls is None:
            raise KeyError(type(error).__name__)
        return self.entries[cls]


HTTP_STATUS: ErrorTable[int] = ErrorTable(
    {
        BaseException: 500,
        core.GatewayError: 500,
        core.AuthError: 401,
        core.Forbidden: 403,
        core.NotFound: 404,
        core.PayloadTooLarge: 413,
        core.RequestTimeout: 408,
        core.CodeUnknown: 422,
        core.AgencyInactive: 422,
        core.AgencyDissolved: 422,
        core.StatusTransitionInvalid: 409,
        core.DocumentUnknown: 422,
        core.Unavailable: 503,
        core.DuplicateMessage: 409,
        core.RequestInvalid: 400,
        core.FileHashMismatch: 400,
        core.DirectoryChangeRefused: 409,
        systems.SystemUnknown: 404,
        systems.SystemExists: 409,
        systems.SystemInvalid: 400,
        systems.CredentialsKeyError: 503,
        operators.OperatorRefused: 422,
        operators.LoginFailed: 401,
        operators.AccountLocked: 423,
        legal.AttachmentMalware: 422,
        legal.PdfSignatureRequired: 422,
        legal.SignerNotSender: 422,
        legal.CertificateRevoked: 422,
        legal.RevocationUnknown: 422,
        legal.MessageGone: 410,
        edxml.EdxmlError: 400,
        edxml.LimitExceeded: 413,
        edxml.SignatureAbsent: 422,
        edxml.SignatureInvalid: 422,
        edxml.SignatureWrapping: 422,
        edxml.SignatureWeak: 422,
        edxml.CertificateUntrusted: 422,
        edxml.CertificateExpired: 422,
    }
)
"""The HTTP status of every refusal at the JSON doors (``/v1``, ``/admin/v1``, ops)."""


def dumps(value: Any) -> str:
    """JSON with UTF-8 text kept as is (Vietnamese messages stay readable), dates as text."""
    return json.dumps(value, ensure_ascii=False, default=str)


def json_error(error: BaseException) -> web.Response:
    """The JSON error form of the HTTP doors: ``{"error": {code, message_vi, message_en,
    path}}`` with the status of :data:`HTTP_STATUS`; unexpected errors never leak text."""
    if not isinstance(error, BilingualError):
        error = core.GatewayError()
    body = {
        "error": {
            "code": error.code,
            "message_vi": error.text_vi,
            "message_en": error.text_en,
            "path": error.path,
        }
    }
    response = web.json_response(body, status=HTTP_STATUS[error], dumps=dumps)
    if isinstance(error, core.Overloaded):
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


async def read_body(request: web.Request, limit: int, *, timeout_s: float | None = None) -> bytes:
    """Read the body, refused with ``PayloadTooLarge`` past ``limit`` bytes and with
    ``RequestTimeout`` when it has not all arrived within the read timeout."""
    return await read_bounded(request, limit, timeout_s=timeout_s)


async def preread(request: web.Request, limit: int, *, timeout_s: float | None = None) -> None:
    """Read and keep the body (``request.read()``/``json()`` then answer from it), bounded by
    ``limit`` and the read timeout; for handlers that parse the body themselves."""
    body = await read_body(request, limit, timeout_s=timeout_s)
    request._read_bytes = body  # aiohttp's own cache of the body: read()/json()/post() use it


def claimed_system(request: web.Request) -> str | None:
    """What an unauthenticated request claimed to be (kept as detail, never trusted)."""
    claimed = request.headers.get("X-Edoc-System") or request.headers.get("XroadVnpt-systemid")
    return claimed[:128] if claimed else None


def _engine(request: web.Request) -> AsyncEngine | None:
    engine = request.config_dict.get(appkeys.ENGINE)
    return engine if isinstance(engine, AsyncEngine) else None


def _is_refusal(error: BilingualError, status: int) -> bool:
    """Refusals are audited; failures of the gateway's own stores (and bugs) are logged."""
    if isinstance(error, core.StoreError | core.BrokerError) and status >= 500:
        return False
    return type(error) is not core.GatewayError


@dataclass(frozen=True)
class Door:
    """One HTTP door: its name in audit records, its error form, where its store is."""

    name: str
    render: Callable[[BaseException], web.StreamResponse] = json_error
    engine_of: Callable[[web.Request], AsyncEngine | None] = _engine

    async def refuse(self, request: web.Request, error: BaseException) -> web.StreamResponse:
        """Render ``error`` in this door's form and audit it once (door, caller, code, remote)."""
        response = self.render(error)
        if isinstance(error, BilingualError) and _is_refusal(error, response.status):
            refusal = Refusal(
                door=self.name,
                code=error.code,
                remote=request.remote,
                actor=request.get(CALLER),
                claimed=claimed_system(request),
                method=request.method,
                path=request.path,
                status=response.status,
                message_en=error.text_en,
                reason=error.detail[:300] or None,
            )
            await audit_refusal(self.engine_of(request), refusal, error=error)
        if request.can_read_body and not request.content.is_eof():
            response.force_close()  # the body was not read: do not keep the connection
        return response

    async def run(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Run ``handler`` for this door: refusals rendered and audited, bugs answered 500."""
        try:
            return await handler(request)
        except BilingualError as exc:
            return await self.refuse(request, exc)
        except web.HTTPException:
            raise  # unmatched routes and methods: aiohttp's own answers
        except Exception:
            log.exception("edge.unhandled", door=self.name, path=request.path)
            return self.render(core.GatewayError())

    def middleware(self) -> Any:
        """This door as an aiohttp middleware (for a sub-application of its own)."""

        @web.middleware
        async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self.run(request, handler)

        return edge

    def guard(self, handler: Handler) -> Handler:
        """This door around one handler (routes on an application shared with others)."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            return await self.run(request, handler)

        guarded.__doc__ = handler.__doc__
        return guarded


async def audit_admin_read(request: web.Request, door: str, actor: str) -> None:
    """One ``admin.read`` record for a read an admin token made through a system door."""
    engine = _engine(request)
    if engine is None:
        return
    event = audit.Event(
        "admin.read",
        actor=actor,
        outcome="ok",
        detail={
            "door": door,
            "method": request.method,
            "path": request.path,
            "query": request.query_string[:500] or None,
            "remote": request.remote,
        },
    )
    await audit_batch.record(engine, event)
