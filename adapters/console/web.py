"""What every console page shares: sessions, CSRF, roles, refusals and rendering.

The middleware lets ``/console/login`` and ``/console/static/`` through; every other page
needs a live session (a GET without one is sent to the login page, anything else is
refused). Every POST must carry the session's CSRF token (form field ``csrf`` or header
``X-CSRF-Token``). A refusal is answered with the console's own error page (stable code,
Vietnamese and English) and leaves exactly one audit record, written here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from adapters.console.i18n import lang_of, translate
from adapters.console.session import COOKIE, RateLimiter, Session, SessionStore
from gateway import appkeys
from gateway.audit import chain as audit
from gateway.core.operator_reads import reading as transaction
from gateway.credentials import operators
from gateway.errors import GatewayError
from gateway.ops.health import HealthChecker

SESSIONS = web.AppKey("console_sessions", SessionStore)
LIMITER = web.AppKey("console_limiter", RateLimiter)
CHECKER = web.AppKey("console_checker", HealthChecker)
INDEX = web.AppKey("console_directory_index", object)
SESSION = web.RequestKey("console_session", Session)
VN = timezone(timedelta(hours=7))
PUBLIC = ("/console/login", "/console/static/", "/console/lang")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CsrfRefused(GatewayError):
    """Raised when a form arrives without the session's CSRF token."""

    code = "CONSOLE_CSRF"
    http_status = 403
    message_vi = "Biểu mẫu không hợp lệ hoặc đã hết hạn (thiếu mã chống giả mạo), hãy tải lại trang"
    message_en = "Form invalid or expired (missing anti-forgery token); reload the page"


class RoleRefused(GatewayError):
    """Raised when the operator's role does not allow the action."""

    code = "CONSOLE_FORBIDDEN"
    http_status = 403
    message_vi = "Vai trò của bạn không được phép thực hiện thao tác này"
    message_en = "Your role does not allow this action"


class LoginRequired(GatewayError):
    """Raised when a request that changes something arrives without a live session."""

    code = "CONSOLE_LOGIN_REQUIRED"
    http_status = 401
    message_vi = "Phiên làm việc đã hết hạn, hãy đăng nhập lại"
    message_en = "Session expired; log in again"


class RateLimited(GatewayError):
    """Raised when one address tries to log in too often."""

    code = "CONSOLE_RATE_LIMITED"
    http_status = 429
    message_vi = "Quá nhiều lần đăng nhập, hãy thử lại sau ít phút"
    message_en = "Too many login attempts; try again in a few minutes"


class PageNotFound(GatewayError):
    """Raised when the record a page shows does not exist."""

    code = "NOT_FOUND"
    http_status = 404
    message_vi = "Không tìm thấy"
    message_en = "Not found"


def session_of(request: web.Request) -> Session:
    """The request's session (the middleware guarantees one on protected pages)."""
    return request[SESSION]


def actor(request: web.Request) -> str:
    """The audit actor of the request: ``console:<operator>``."""
    return f"console:{session_of(request).operator}"


def require(request: web.Request, role: str) -> None:
    """Refuse the request unless the operator's role includes ``role``."""
    if operators.ROLES.index(session_of(request).role) < operators.ROLES.index(role):
        raise RoleRefused(f"{session_of(request).role} may not do what needs {role}")


def may(request: web.Request, role: str) -> bool:
    """True when the operator's role includes ``role`` (to show or hide buttons)."""
    session = request.get(SESSION)
    if session is None:
        return False
    return operators.ROLES.index(session.role) >= operators.ROLES.index(role)


async def record(request: web.Request, event: str, **fields: Any) -> None:
    """Append one audit record for a console action of the current operator."""
    async with transaction(request.config_dict[appkeys.ENGINE]) as conn:
        await audit.append(conn, event=event, actor=actor(request), **fields)


def local(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Jinja filter: an aware datetime (or ISO text) shown in Vietnam time."""
    if value is None or value == "":
        return "—"
    at = value
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(at, datetime):
        aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        return aware.astimezone(VN).strftime(fmt)
    return str(value)


def render(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    """Render a page with the shared context (language, operator, CSRF token, roles)."""
    lang = lang_of(request)
    session = request.get(SESSION)
    shared = {
        "lang": lang,
        "t": lambda key: translate(lang, key),
        "session": session,
        "csrf": session.csrf if session else "",
        "may": lambda role: may(request, role),
        "path": request.path,
        "path_qs": request.path_qs,
    }
    shared.update(context)
    response = aiohttp_jinja2.render_template(template, request, shared, status=status)
    return response


def _refusal(request: web.Request, error: GatewayError) -> web.Response:
    context = {"error": error, "status": error.http_status}
    return render(request, "error.html", context, status=error.http_status)


async def _audit_refusal(request: web.Request, error: GatewayError) -> None:
    session = request.get(SESSION)
    async with transaction(request.config_dict[appkeys.ENGINE]) as conn:
        await audit.append(
            conn,
            event="console.refused",
            actor=f"console:{session.operator}" if session else None,
            outcome=error.code,
            detail={
                "via": "console",
                "method": request.method,
                "path": request.path,
                "remote": request.remote,
                "reason": error.detail[:300],
            },
        )


async def _csrf_token(request: web.Request) -> str:
    header = request.headers.get("X-CSRF-Token", "")
    if header:
        return header
    form = await request.post()
    value = form.get("csrf", "")
    return value if isinstance(value, str) else ""


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sessions, CSRF, refusals and security headers for every console request."""
    try:
        response = await _guarded(request, handler)
    except operators.LoginFailed as exc:  # audited by operators.login already
        response = _refusal(request, exc)
    except GatewayError as exc:
        if exc.http_status >= 500:
            raise
        await _audit_refusal(request, exc)
        response = _refusal(request, exc)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(PUBLIC):
        return await handler(request)
    sessions = request.app[SESSIONS]
    token = request.cookies.get(COOKIE)
    session = sessions.get(token)
    if session is not None:
        account = await operators.get(request.config_dict[appkeys.ENGINE], session.operator)
        if account is None or account.disabled:
            sessions.close_operator(session.operator)
            session = None
        else:
            session.role = account.role
    if session is None:
        if request.method in ("GET", "HEAD"):
            raise web.HTTPSeeOther(f"/console/login?next={quote(request.path_qs)}")
        raise LoginRequired(request.path)
    request[SESSION] = session
    if request.method not in ("GET", "HEAD", "OPTIONS") and not session.csrf_ok(
        await _csrf_token(request)
    ):
        raise CsrfRefused(request.path)
    return await handler(request)
