"""Who is calling: signed requests (HMAC-SHA256) and bearer tokens issued to a system.

A signed request carries ``X-Edoc-System``, ``X-Edoc-Timestamp`` (Unix seconds),
``X-Edoc-Nonce`` and ``X-Edoc-Signature``: the lower-case hex HMAC-SHA256, keyed with the
system's secret, of ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nSHA256(BODY)``. The timestamp
must lie within the allowed clock skew; a signature seen again within the replay window is
refused. A bearer token (``Authorization: Bearer ...``) is self-contained:
``edt1.system.expiry.id.mac`` with the mac keyed by the system's secret, so every gateway
process sharing the configuration accepts it; changing the secret revokes every token of
the system, and one token is revoked by its id (``gateway.credentials.tokens``).
Secrets are never logged nor returned.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from gateway.config import AdminSettings, LimitsSettings, SystemSettings
from gateway.credentials.admin import USER_HEADER, AdminTokens
from gateway.credentials.registry import CallingSystems, SystemRecord, as_registry
from gateway.credentials.replay import ReplayCache
from gateway.errors import AuthError, AuthExpired, AuthReplay

HEADER_SYSTEM = "X-Edoc-System"
HEADER_TIMESTAMP = "X-Edoc-Timestamp"
HEADER_NONCE = "X-Edoc-Nonce"
HEADER_SIGNATURE = "X-Edoc-Signature"
_TOKEN_PREFIX = "edt1"
_TIMESTAMP_FORM = re.compile(r"[0-9]{1,12}")
_NONCE_FORM = re.compile(r"[\x21-\x7e]{1,128}")
_HEX_FORM = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Caller:
    """An authenticated caller and the agency codes it may speak for."""

    system_id: str
    agencies: frozenset[str]
    policy: str = "legacy"
    role: str = "system"  # or "admin"
    remote: str | None = None  # the peer address the door saw (for audit records only)


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """Return the canonical bytes a request signature covers."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{digest}".encode()


def sign_request(
    system_id: str,
    secret: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Return the headers that authenticate one request (client side; tests, demo, bench)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(12)
    mac = hmac.new(secret.encode(), string_to_sign(method, path, ts, nonce, body), "sha256")
    return {
        HEADER_SYSTEM: system_id,
        HEADER_TIMESTAMP: ts,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: mac.hexdigest(),
    }


@dataclass(frozen=True)
class Pending:
    """A signed request whose headers passed (forms, timestamp window, known system, not a
    replay yet): what :meth:`Authenticator.finish` needs to verify the MAC over the body."""

    method: str
    path: str
    system: SystemRecord
    timestamp: str
    nonce: str
    signature: str


class Authenticator:
    """Checks request signatures, bearer tokens and admin tokens against the configured
    systems: the one authentication path of the native API (its replay cache is
    ``gateway.credentials.replay``, its admin check ``gateway.credentials.admin``)."""

    def __init__(
        self,
        systems: Iterable[SystemSettings] | CallingSystems,
        limits: LimitsSettings,
        admin: AdminSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._systems = as_registry(systems)
        self._skew = limits.clock_skew_s
        self.token_ttl_s = limits.token_ttl_s
        self._clock = clock
        # A replay must be refused for as long as its timestamp would still be accepted.
        self._replays = ReplayCache(max(limits.replay_window_s, 2 * limits.clock_skew_s))
        self.admin = AdminTokens(t.get_secret_value() for t in (admin.tokens if admin else ()))

    @property
    def replays(self) -> ReplayCache:
        """The process's one replay cache (the VXP door's strict profile records in it too)."""
        return self._replays

    def _caller(self, system: SystemRecord) -> Caller:
        return Caller(system.id, frozenset(system.agencies), system.policy, "system")

    def authenticate(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Caller:
        """Return the caller of a request, or raise ``AuthError`` / subclasses."""
        first = self.check_headers(method, path, headers)
        return first if isinstance(first, Caller) else self.finish(first, body)

    def check_headers(self, method: str, path: str, headers: Mapping[str, str]) -> Caller | Pending:
        """Authenticate what the headers alone can: a bearer or admin token gives the caller;
        a signed request gives a :class:`Pending` once its header forms, timestamp window,
        system and freshness pass (the body is read only then, and :meth:`finish` verifies
        the MAC). Raises ``AuthError`` / subclasses."""
        authorization = headers.get("Authorization", "")
        if authorization[:7].lower() == "bearer ":
            return self.check_token(authorization[7:].strip(), headers.get(USER_HEADER, ""))
        system_id = headers.get(HEADER_SYSTEM)
        signature = headers.get(HEADER_SIGNATURE)
        if not system_id or not signature:
            raise AuthError("missing credentials")
        timestamp = headers.get(HEADER_TIMESTAMP, "")
        nonce = headers.get(HEADER_NONCE, "")
        # Exactly the documented forms: Unix seconds in ASCII digits, a non-empty printable
        # ASCII nonce, hex signature; anything else (``+ts``, ``1_796…``, full-width digits,
        # non-ASCII bytes) is a plain refusal, never an exception further down.
        if not _TIMESTAMP_FORM.fullmatch(timestamp):
            raise AuthExpired("timestamp is not Unix seconds in ASCII digits")
        if not _NONCE_FORM.fullmatch(nonce) or not _HEX_FORM.fullmatch(signature):
            raise AuthError("malformed nonce or signature")
        if not system_id.isascii():
            raise AuthError("unknown system or wrong signature")
        now = self._clock()
        if abs(now - int(timestamp)) > self._skew:
            raise AuthExpired(f"timestamp outside ±{self._skew} s")
        system = self._systems.get(system_id)
        if system is None or not system.enabled:
            raise AuthError("unknown system or wrong signature")
        if self._replays.seen(f"{system.id}:{signature.lower()}", now):
            raise AuthReplay()
        return Pending(method, path, system, timestamp, nonce, signature.lower())

    def finish(self, pending: Pending, body: bytes) -> Caller:
        """Verify the MAC of a signed request over its body, then remember it (replays)."""
        system = pending.system
        signed = string_to_sign(
            pending.method, pending.path, pending.timestamp, pending.nonce, body
        )
        # During a rotation overlap a system holds two secrets: either one signs.
        macs = [hmac.new(s.encode(), signed, "sha256").hexdigest() for s in system.secrets]
        expected = next((m for m in macs if hmac.compare_digest(m, pending.signature)), "")
        if not expected:
            raise AuthError("unknown system or wrong signature")
        if not self._replays.check_and_add(f"{system.id}:{expected}", self._clock()):
            raise AuthReplay()
        return self._caller(system)

    def issue_token(self, caller: Caller) -> tuple[str, int]:
        """Return a bearer token for the caller's system and its expiry (Unix seconds)."""
        system = self._systems.get(caller.system_id)
        if system is None or not system.enabled or not system.secrets or caller.role != "system":
            raise AuthError("tokens are issued to configured systems only")
        expiry = int(self._clock()) + self.token_ttl_s
        body = f"{_TOKEN_PREFIX}.{system.id}.{expiry}.{secrets.token_hex(8)}"
        return f"{body}.{self._token_mac(system.secret.get_secret_value(), body)}", expiry

    def check_token(self, token: str, admin_user: str = "") -> Caller:
        """Return the caller a bearer token was issued for (an admin token: the admin, named
        as in every admin audit record), or raise ``AuthError``; a revoked token is refused."""
        if not token.isascii():
            raise AuthError("malformed token")
        actor = self.admin.actor(token, admin_user)
        if actor is not None:
            return Caller(actor, frozenset(), "legacy", "admin")
        body, _, mac = token.rpartition(".")
        parts = body.split(".")
        # System ids may contain dots: the prefix, expiry and nonce are fixed positions.
        if len(parts) < 4 or parts[0] != _TOKEN_PREFIX:
            raise AuthError("malformed token")
        system = self._systems.get(".".join(parts[1:-2]))
        if system is None or not system.enabled:
            raise AuthError("unknown token")
        if not any(hmac.compare_digest(self._token_mac(s, body), mac) for s in system.secrets):
            raise AuthError("unknown token")
        try:
            expiry = int(parts[-2])
        except ValueError:
            raise AuthError("malformed token") from None
        if expiry < self._clock():
            raise AuthExpired("token expired")
        revoked = getattr(self._systems, "is_revoked", None)
        if revoked is not None and revoked(system.id, parts[-1]):
            raise AuthError("token revoked")
        return self._caller(system)

    @staticmethod
    def _token_mac(secret: str, body: str) -> str:
        return hmac.new(secret.encode(), b"token\n" + body.encode(), "sha256").hexdigest()
