"""Login, logout and the language switch."""

from __future__ import annotations

import secrets

from aiohttp import web

from adapters.console.i18n import COOKIE as LANG_COOKIE
from adapters.console.i18n import LANGS
from adapters.console.session import COOKIE, LOGIN_CSRF_COOKIE, PATH, set_cookie
from adapters.console.web import LIMITER, SESSIONS, CsrfRefused, RateLimited, record, render
from gateway import appkeys
from gateway.credentials import operators


def _next(value: str | None) -> str:
    """Only a console path may be the place to go back to (no open redirect)."""
    if value and value.startswith("/console/") and not value.startswith("//"):
        return value
    return "/console/"


async def login_form(request: web.Request) -> web.Response:
    """The login page, with a login CSRF token (double-submitted: cookie and field)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request, "login.html", {"login_csrf": token, "next": _next(request.query.get("next"))}
    )
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    """Check the credentials; on success open a session and go to the page asked for."""
    form = await request.post()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or form.get("csrf") != cookie:
        raise CsrfRefused("login form without its token")
    remote = request.remote or "?"
    if not request.app[LIMITER].allow(remote):
        raise RateLimited(remote)
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    engine = request.config_dict[appkeys.ENGINE]
    account = await operators.login(engine, name, password, remote=remote)
    token, _session = request.app[SESSIONS].open(account.name, account.role)
    response = web.HTTPSeeOther(_next(str(form.get("next", ""))))
    set_cookie(response, request, COOKIE, token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path=PATH)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session (a POST with the CSRF token, like every action)."""
    await record(request, "console.logout", detail={"via": "console"})
    request.app[SESSIONS].close(request.cookies.get(COOKIE))
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(COOKIE, path=PATH)
    raise response


async def switch_language(request: web.Request) -> web.StreamResponse:
    """Remember the chosen language in a cookie and go back."""
    lang = request.query.get("to", "vi")
    response = web.HTTPSeeOther(_next(request.query.get("next")))
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, lang, path=PATH, samesite="Strict", max_age=365 * 86400)
    raise response
