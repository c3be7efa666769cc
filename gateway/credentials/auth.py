"""Who is calling: signed requests (HMAC-SHA256) and bearer tokens issued to a system.

A signed request carries ``X-Edoc-System``, ``X-Edoc-Timestamp`` (Unix seconds),
``X-Edoc-Nonce`` and ``X-Edoc-Signature``: the lower-case hex HMAC-SHA256, keyed with the
system's secret, of ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nSHA256(BODY)``. The timestamp
must lie within the allowed clock skew; a signature seen again within the replay window is
refused. A bearer token (``Authorization: Bearer ...``) is self-contained and stateless:
``system.expiry.nonce.mac`` with the mac keyed by the system's secret, so every gateway
process sharing the configuration accepts it, and changing the secret revokes it.
Secrets are never logged nor returned.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from gateway.config import AdminSettings, LimitsSettings, SystemSettings
from gateway.credentials.registry import CallingSystems, SystemRecord, as_registry
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


class _ReplayCache:
    """Signatures seen recently; bounded by time (window) and size."""

    def __init__(self, window_s: float, max_entries: int = 200_000) -> None:
        self._window = window_s
        self._max = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check_and_add(self, key: str, now: float) -> bool:
        """Record ``key``; return ``False`` when it was already seen within the window."""
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if at > now - self._window and len(self._seen) < self._max:
                break
            self._seen.pop(oldest)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


class Authenticator:
    """Checks request signatures and bearer tokens against the configured systems."""

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
        self._token_ttl = limits.token_ttl_s
        self._clock = clock
        # A replay must be refused for as long as its timestamp would still be accepted.
        self._replays = _ReplayCache(max(limits.replay_window_s, 2 * limits.clock_skew_s))
        self._admin_tokens = [
            hashlib.sha256(t.get_secret_value().encode()).digest()
            for t in (admin.tokens if admin else ())
        ]

    def _caller(self, system: SystemRecord) -> Caller:
        return Caller(system.id, frozenset(system.agencies), system.policy, "system")

    def authenticate(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Caller:
        """Return the caller of a request, or raise ``AuthError`` / subclasses."""
        authorization = headers.get("Authorization", "")
        if authorization[:7].lower() == "bearer ":
            return self.check_token(authorization[7:].strip())
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
        system = self._systems.get(system_id)
        if system is None or not system.enabled:
            raise AuthError("unknown system or wrong signature")
        signed = string_to_sign(method, path, timestamp, nonce, body)
        # During a rotation overlap a system holds two secrets: either one signs.
        macs = [hmac.new(s.encode(), signed, "sha256").hexdigest() for s in system.secrets]
        expected = next((m for m in macs if hmac.compare_digest(m, signature.lower())), "")
        if not expected:
            raise AuthError("unknown system or wrong signature")
        now = self._clock()
        at = int(timestamp)
        if abs(now - at) > self._skew:
            raise AuthExpired(f"timestamp outside ±{self._skew} s")
        if not self._replays.check_and_add(f"{system_id}:{expected}", now):
            raise AuthReplay()
        return self._caller(system)

    def issue_token(self, caller: Caller) -> tuple[str, int]:
        """Return a bearer token for the caller's system and its expiry (Unix seconds)."""
        system = self._systems.get(caller.system_id)
        if system is None or not system.enabled or not system.secrets or caller.role != "system":
            raise AuthError("tokens are issued to configured systems only")
        expiry = int(self._clock()) + self._token_ttl
        body = f"{_TOKEN_PREFIX}.{system.id}.{expiry}.{secrets.token_hex(8)}"
        return f"{body}.{self._token_mac(system.secret.get_secret_value(), body)}", expiry

    def check_token(self, token: str) -> Caller:
        """Return the caller a bearer token was issued for, or raise ``AuthError``."""
        if not token.isascii():
            raise AuthError("malformed token")
        digest = hashlib.sha256(token.encode()).digest()
        if any(hmac.compare_digest(digest, t) for t in self._admin_tokens):
            return Caller("admin", frozenset(), "legacy", "admin")
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
        return self._caller(system)

    @staticmethod
    def _token_mac(secret: str, body: str) -> str:
        return hmac.new(secret.encode(), b"token\n" + body.encode(), "sha256").hexdigest()
