"""The axis's ``XroadVnpt-`` header signing, for both sides of a VXP call (SPEC §6).

A client puts every parameter ``<name>`` (plus ``systemid`` and ``timestamp``) in a header
``XroadVnpt-<name>``, then adds:

- ``XroadVnpt-sign-header``: the compact JSON object of exactly those headers, keys prefixed;
- ``XroadVnpt-sign-header-key``: the names without prefix joined by ``;``;
- ``XroadVnpt-hash-header``: lower-case hex HMAC-SHA256 of the sign-header string, keyed with
  the system's secret (UTF-8).

The server verifies the HMAC over the sign-header string *as received* (so key order and JSON
escaping are the client's business), then checks that every signed header was really sent with
the same value, that the timestamp lies within the allowed skew, and that the request was not
seen before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from gateway.errors import AuthError, AuthExpired, AuthReplay

PREFIX = "XroadVnpt-"
SIGN_HEADER = "XroadVnpt-sign-header"
SIGN_HEADER_KEY = "XroadVnpt-sign-header-key"
HASH_HEADER = "XroadVnpt-hash-header"
VERSION_HEADER = "XroadVnpt-version"
SDK_VERSION = "3.0.201608"
SDK_USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"

# The SDK formats local time without an offset; the axis runs on Vietnam time (UTC+7).
VIETNAM = timezone(timedelta(hours=7), "ICT")
_TIMESTAMP_LAYOUT = "%d%m%YT%H%M%S"
DEFAULT_SKEW = timedelta(minutes=5)


def format_timestamp(moment: datetime) -> str:
    """Format ``moment`` as the SDK does: ``ddMMyyyy'T'HHmmss+SSSS`` in Vietnam time.

    ``SSSS`` is Java's millisecond field padded to four digits (``+0042`` for 42 ms).
    """
    local = moment.astimezone(VIETNAM) if moment.tzinfo else moment
    return f"{local.strftime(_TIMESTAMP_LAYOUT)}+{local.microsecond // 1000:04d}"


def parse_timestamp(text: str) -> datetime:
    """Parse an SDK timestamp (``ddMMyyyy'T'HHmmss+SSSS``) as an aware Vietnam-time instant.

    Raises :class:`gateway.errors.AuthExpired` when the text does not have that form.
    """
    head, plus, millis = text.strip().partition("+")
    try:
        moment = datetime.strptime(head, _TIMESTAMP_LAYOUT)
        extra = int(millis) if plus else 0
    except ValueError as exc:
        raise AuthExpired(f"timestamp {text!r} is not ddMMyyyy'T'HHmmss+SSSS") from exc
    if plus and not (millis.isdigit() and 0 <= extra < 1000):
        raise AuthExpired(f"timestamp {text!r} has a bad millisecond field")
    return moment.replace(tzinfo=VIETNAM) + timedelta(milliseconds=extra)


def hmac_hex(secret: str, message: str) -> str:
    """Return the lower-case hex HMAC-SHA256 of ``message`` keyed with ``secret`` (both UTF-8)."""
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def sdk_file_hash(data: bytes) -> str:
    """Return the ``hash-file`` value the Java SDK sends for a file's bytes.

    The SDK hex-encodes SHA-256 with ``Integer.toHexString`` per byte, so bytes below 0x10
    lose their leading zero; the server accepts this form and the zero-padded one.
    """
    return "".join(format(byte, "x") for byte in hashlib.sha256(data).digest())


def file_hash_matches(claimed: str, data: bytes) -> bool:
    """Tell whether a ``hash-file`` header matches ``data`` in the SDK or the padded form."""
    claimed = claimed.strip().lower()
    return hmac.compare_digest(claimed, sdk_file_hash(data)) or hmac.compare_digest(
        claimed, hashlib.sha256(data).hexdigest()
    )


def sign_headers(
    params: Mapping[str, str],
    *,
    system_id: str,
    secret: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """Return the HTTP headers of a signed VXP request carrying ``params``.

    ``systemid`` and ``timestamp`` are added; every parameter is sent as ``XroadVnpt-<name>``
    and covered by the HMAC. A ``Content-Type`` parameter is also sent as the plain header,
    as the SDK does.
    """
    signed: dict[str, str] = {"systemid": system_id}
    signed["timestamp"] = format_timestamp(now or datetime.now(VIETNAM))
    signed.update({name: str(value) for name, value in params.items()})
    sign_object = {PREFIX + name: value for name, value in signed.items()}
    sign_header = json.dumps(sign_object, ensure_ascii=False, separators=(",", ":"))
    headers = dict(sign_object)
    if "Content-Type" in signed:
        headers["Content-Type"] = signed["Content-Type"]
    headers[SIGN_HEADER_KEY] = ";".join(signed)
    headers[SIGN_HEADER] = sign_header
    headers[HASH_HEADER] = hmac_hex(secret, sign_header)
    headers["User-Agent"] = SDK_USER_AGENT
    headers[VERSION_HEADER] = SDK_VERSION
    return headers


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a verified request says: the calling system, its timestamp and its parameters."""

    system_id: str
    timestamp: datetime
    params: Mapping[str, str]

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return a signed parameter, matching the name case-insensitively."""
        if name in self.params:
            return self.params[name]
        lowered = name.lower()
        for key, value in self.params.items():
            if key.lower() == lowered:
                return value
        return default


class ReplayGuard:
    """Remembers recently seen request signatures and refuses a second use within ``window``.

    In memory and per process: a shared deployment runs one VXP endpoint per process behind
    sticky routing or accepts that a replay across processes is only caught by the timestamp
    skew bound.
    """

    def __init__(self, window: timedelta = DEFAULT_SKEW * 2, max_entries: int = 100_000) -> None:
        self._window = window.total_seconds()
        self._max = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def check_and_remember(self, key: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Record ``key``; raise :class:`AuthReplay` when it was already seen in the window."""
        now = clock()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at <= self._window and len(self._seen) < self._max:
                    break
                del self._seen[oldest]
            if key in self._seen:
                raise AuthReplay("the same signed headers were already used")
            self._seen[key] = now


def verify_request(
    headers: Mapping[str, str],
    secret_for: Callable[[str], str | None],
    *,
    now: datetime | None = None,
    skew: timedelta = DEFAULT_SKEW,
    replay_guard: ReplayGuard | None = None,
) -> SignedRequest:
    """Verify a VXP request's signed headers and return its parameters.

    ``headers`` is case-insensitive (aiohttp's ``CIMultiDictProxy``, or a plain dict with the
    exact names). ``secret_for`` maps a system id to its secret (``None``: unknown system).
    Raises :class:`AuthError` (bad or missing signature, unknown system, a signed header not
    sent as signed), :class:`AuthExpired` (timestamp outside ``skew``) or :class:`AuthReplay`.
    """
    sign_header = _header(headers, SIGN_HEADER)
    claimed = _header(headers, HASH_HEADER)
    if not sign_header or not claimed:
        raise AuthError("XroadVnpt-sign-header and XroadVnpt-hash-header are required")
    try:
        signed = json.loads(sign_header)
    except ValueError as exc:
        raise AuthError("XroadVnpt-sign-header is not JSON") from exc
    if not isinstance(signed, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in signed.items()
    ):
        raise AuthError("XroadVnpt-sign-header must be a JSON object of strings")
    params = {k[len(PREFIX) :]: v for k, v in signed.items() if k.startswith(PREFIX)}
    if len(params) != len(signed):
        raise AuthError("every signed header name must start with XroadVnpt-")
    system_id = params.get("systemid", "")
    secret = secret_for(system_id) if system_id else None
    if secret is None:
        raise AuthError(f"unknown system {system_id!r}")
    if not hmac.compare_digest(hmac_hex(secret, sign_header), claimed.strip().lower()):
        raise AuthError("XroadVnpt-hash-header does not match")
    key_list = _header(headers, SIGN_HEADER_KEY)
    if key_list is not None and set(filter(None, key_list.split(";"))) != set(params):
        raise AuthError("XroadVnpt-sign-header-key does not name the signed headers")
    for name, value in params.items():
        if _header(headers, PREFIX + name) != value:
            raise AuthError(f"header {PREFIX + name} was signed but not sent as signed")
    if "timestamp" not in params:
        raise AuthExpired("XroadVnpt-timestamp is required")
    moment = parse_timestamp(params["timestamp"])
    current = now or datetime.now(VIETNAM)
    if abs(current - moment) > skew:
        raise AuthExpired(f"timestamp {params['timestamp']} is outside ±{skew}")
    if replay_guard is not None:
        replay_guard.check_and_remember(f"{system_id}\x00{claimed.strip().lower()}")
    return SignedRequest(system_id=system_id, timestamp=moment, params=params)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and not hasattr(headers, "getall"):
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value
