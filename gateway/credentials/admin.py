"""The one admin-token check, used by the admin API, the maintenance switch and ``/v1``.

Admin tokens are the plain bearer tokens of ``[admin] tokens``. A caller presenting one is
named ``admin:<fingerprint>`` (the first 12 hex digits of the token's SHA-256), followed by
``:<user>`` when an ``X-Admin-User`` header names the person: one actor format in every
audit record, whichever door the admin came through. Tokens are compared in constant time
and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from gateway.errors import AuthError

USER_HEADER = "X-Admin-User"


def fingerprint(token: str) -> str:
    """The short public name of an admin token (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def bearer_of(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, ``None`` for anything else."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def _user(value: str) -> str:
    user = "".join(c for c in value.strip() if c.isprintable() and c != ":")
    return user[:100]


class AdminTokens:
    """The configured admin tokens; :meth:`actor` names the admin presenting one."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = [(hashlib.sha256(t.encode()).digest(), fingerprint(t)) for t in tokens if t]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def actor(self, token: str, user: str = "") -> str | None:
        """``admin:<fingerprint>[:<user>]`` when ``token`` is an admin token, else ``None``."""
        if not token.isascii():
            return None
        digest = hashlib.sha256(token.encode()).digest()
        name = None
        for known, fp in self._digests:  # every one compared: timing tells nothing
            if hmac.compare_digest(digest, known):
                name = fp
        if name is None:
            return None
        who = _user(user)
        return f"admin:{name}" + (f":{who}" if who else "")

    def check(self, authorization: str, user: str = "") -> str:
        """Return the admin actor of an ``Authorization`` header or raise ``AuthError``."""
        token = bearer_of(authorization)
        if token is None:
            raise AuthError("admin bearer token required")
        actor = self.actor(token, user)
        if actor is None:
            raise AuthError("admin token refused")
        return actor
