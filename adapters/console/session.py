"""Console sessions (in the process's memory) and the login rate limiter.

A session is a random token in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` when
the request came over TLS, directly or through a proxy's ``X-Forwarded-Proto``), with its
own CSRF token for the forms. It ends after ``idle_s`` without a request, after
``max_age_s`` in any case, on logout, and when the account is disabled. Sessions live in
this process: a restart logs everyone out, and behind a load balancer it must keep an
operator on one process (sticky sessions).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

COOKIE = "edoc_console"
LOGIN_CSRF_COOKIE = "edoc_console_login"
PATH = "/console"


@dataclass
class Session:
    """One operator's login: who, which role, its CSRF token, last use."""

    operator: str
    role: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    created: float = field(default_factory=lambda: time.monotonic())
    seen: float = field(default_factory=lambda: time.monotonic())
    pending: dict[str, Any] = field(default_factory=dict)  # e.g. a directory import preview

    def csrf_ok(self, token: str) -> bool:
        """True when ``token`` is this session's CSRF token (constant-time comparison)."""
        return bool(token) and hmac.compare_digest(token.encode(), self.csrf.encode())


class SessionStore:
    """Sessions by token, with idle and absolute timeouts."""

    def __init__(self, *, idle_s: float = 900.0, max_age_s: float = 12 * 3600.0) -> None:
        self.idle_s = idle_s
        self.max_age_s = max_age_s
        self._sessions: dict[str, Session] = {}

    def open(self, operator: str, role: str) -> tuple[str, Session]:
        """Start a session; return its token (for the cookie) and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(operator, role)
        self._sessions[token] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        """Return the live session of ``token`` (touching it), or ``None`` if expired."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.seen > self.idle_s or now - session.created > self.max_age_s:
            del self._sessions[token]
            return None
        session.seen = now
        return session

    def close(self, token: str | None) -> None:
        """End a session (logout)."""
        if token:
            self._sessions.pop(token, None)

    def close_operator(self, operator: str) -> None:
        """End every session of an operator (disabled account)."""
        for token in [t for t, s in self._sessions.items() if s.operator == operator]:
            del self._sessions[token]


class RateLimiter:
    """At most ``limit`` login attempts per ``window_s`` from one address."""

    def __init__(self, *, limit: int = 10, window_s: float = 300.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        """Count one attempt from ``key``; False when it is over the limit."""
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] > self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        if len(self._hits) > 10_000:  # forget idle addresses
            for old in [k for k, v in self._hits.items() if not v or now - v[-1] > self.window_s]:
                del self._hits[old]
        return True


def is_tls(request: web.Request) -> bool:
    """True when the browser reached us over TLS (directly or via a proxy)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    """Set a console cookie: HttpOnly, SameSite=Strict, path /console, Secure over TLS."""
    response.set_cookie(
        name, value, path=PATH, httponly=True, samesite="Strict", secure=is_tls(request)
    )
