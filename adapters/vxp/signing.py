"""The axis's ``XroadVnpt-`` header signing, for both sides of a VXP call (SPEC §6).

A client puts every parameter ``<name>`` (plus ``systemid`` and ``timestamp``) in a header
``XroadVnpt-<name>``, then adds:

- ``XroadVnpt-sign-header``: the compact JSON object of exactly those headers, keys prefixed;
- ``XroadVnpt-sign-header-key``: the names without prefix joined by ``;``;
- ``XroadVnpt-hash-header``: lower-case hex HMAC-SHA256 of the sign-header string, keyed with
  the system's secret (UTF-8).

The server verifies the HMAC over the sign-header string *as received* (so key order and JSON
escaping are the client's business), then checks that every signed header was really sent with
the same value (:func:`verify_signature`). How fresh the timestamp must be and whether a repeat
is served is the calling system's authentication profile (:mod:`adapters.vxp.auth`);
:func:`verify_request` is the ``strict`` reading: ±skew in Vietnam time and a replay cache.

The SDK keeps one header map per service object (interop/VXP-SDK.md): ``getEdoc`` puts
``docId`` and ``updateStatus`` puts ``docid``, so one request may carry two values under one
(case-insensitive) HTTP header name; they are matched against the signed JSON value by value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from adapters.vxp.sdk_wire import (
    HASH_HEADER,
    PREFIX,
    SDK_USER_AGENT,
    SDK_VERSION,
    SIGN_HEADER,
    SIGN_HEADER_KEY,
    VERSION_HEADER,
    SdkHeaderMap,
    sdk_file_hash,
    sdk_timestamp,
)
from gateway.credentials.replay import ReplayCache
from gateway.errors import AuthError, AuthExpired, AuthReplay

__all__ = [
    "HASH_HEADER",
    "PREFIX",
    "SDK_USER_AGENT",
    "SDK_VERSION",
    "SIGN_HEADER",
    "SIGN_HEADER_KEY",
    "VERSION_HEADER",
    "sdk_file_hash",
]

# The SDK formats the JVM's local time without an offset: Vietnam time (UTC+7) on the axis,
# UTC on many Linux servers.
VIETNAM = timezone(timedelta(hours=7), "ICT")
READINGS: tuple[tzinfo, ...] = (VIETNAM, UTC)
_TIMESTAMP_LAYOUT = "%d%m%YT%H%M%S"
DEFAULT_SKEW = timedelta(minutes=5)


def format_timestamp(moment: datetime) -> str:
    """Format ``moment`` as the SDK does: ``ddMMyyyy'T'HHmmss+SSSS`` in Vietnam time.

    ``SSSS`` is Java's millisecond field padded to four digits (``+0042`` for 42 ms).
    """
    local = moment.astimezone(VIETNAM) if moment.tzinfo else moment
    return f"{local.strftime(_TIMESTAMP_LAYOUT)}+{local.microsecond // 1000:04d}"


def parse_timestamp(text: str, zone: tzinfo = VIETNAM) -> datetime:
    """Parse an SDK timestamp (``ddMMyyyy'T'HHmmss+SSSS``) as an aware instant in ``zone``.

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
    return moment.replace(tzinfo=zone) + timedelta(milliseconds=extra)


def hmac_hex(secret: str, message: str) -> str:
    """Return the lower-case hex HMAC-SHA256 of ``message`` keyed with ``secret`` (both UTF-8)."""
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def file_hash_matches(claimed: str, data: bytes) -> bool:
    """Tell whether a ``hash-file`` header matches ``data`` in the SDK (``Integer.toHexString``
    per byte: 64 characters less one per byte below 0x10) or the zero-padded form."""
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
    zone: tzinfo = VIETNAM,
) -> dict[str, str]:
    """Return the HTTP headers of a signed VXP request carrying ``params``, laid out as the
    axis SDK lays them out (:mod:`adapters.vxp.sdk_wire`): ``timestamp`` and ``systemid``
    first put, then ``params`` in their order, all signed in Java ``HashMap`` order, a
    ``Content-Type`` parameter also sent as the plain header.
    """
    moment = now or datetime.now(VIETNAM)
    headers = SdkHeaderMap(system_id, sdk_timestamp(moment, zone))
    for name, value in params.items():
        headers.put(name, str(value))
    return dict(headers.signed_headers(secret))


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a verified request says: the calling system, its timestamp and its parameters."""

    system_id: str
    timestamp: datetime
    params: Mapping[str, str]
    signature: str = ""

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

    The VXP form of the gateway's one replay cache (``gateway.credentials.replay``). In a
    running gateway it is given the native API's cache (``cache``), so the process keeps one;
    in memory and per process, so across processes a replay is only caught by the timestamp
    skew bound. Times are wall-clock seconds, as the native API records them.
    """

    def __init__(
        self,
        window: timedelta = DEFAULT_SKEW * 2,
        max_entries: int = 100_000,
        *,
        cache: ReplayCache | None = None,
    ) -> None:
        if cache is None:
            cache = ReplayCache(window.total_seconds(), max_entries)
        self._cache = cache

    def __len__(self) -> int:
        return len(self._cache)

    def check_and_remember(self, key: str, *, clock: Callable[[], float] = time.time) -> None:
        """Record ``key``; raise :class:`AuthReplay` when it was already seen in the window."""
        if not self._cache.check_and_add(key, clock()):
            raise AuthReplay("the same signed headers were already used")


def verify_signature(
    headers: Mapping[str, str],
    secrets_for: Callable[[str], Iterable[str]],
) -> SignedRequest:
    """Verify a VXP request's signature and return its signed parameters and timestamp text.

    ``headers`` is case-insensitive (aiohttp's ``CIMultiDictProxy``, or a plain dict with the
    exact names). ``secrets_for`` maps a system id to its valid secrets (empty: unknown); the
    HMAC may match any of them (a rotation keeps the old secret valid for a while). Raises
    :class:`AuthError` for a bad or missing signature, an unknown system or a signed header
    not sent as signed; the timestamp is not judged here.
    """
    sign_header = _header(headers, SIGN_HEADER)
    claimed = _header(headers, HASH_HEADER)
    if not sign_header or not claimed:
        raise AuthError("XroadVnpt-sign-header and XroadVnpt-hash-header are required")
    params = _signed_params(sign_header)
    system_id = params.get("systemid", "")
    candidates = list(secrets_for(system_id)) if system_id else []
    if not candidates:
        raise AuthError(f"unknown system {system_id!r}")
    given = claimed.strip().lower()
    # Every candidate is compared so the time taken does not tell which secret matched.
    matches = [hmac.compare_digest(hmac_hex(secret, sign_header), given) for secret in candidates]
    if not any(matches):
        raise AuthError("XroadVnpt-hash-header does not match")
    key_list = _header(headers, SIGN_HEADER_KEY)
    if key_list is not None and set(filter(None, key_list.split(";"))) != set(params):
        raise AuthError("XroadVnpt-sign-header-key does not name the signed headers")
    _check_sent_as_signed(headers, params)
    if "timestamp" not in params:
        raise AuthExpired("XroadVnpt-timestamp is required")
    return SignedRequest(
        system_id=system_id,
        timestamp=parse_timestamp(params["timestamp"]),
        params=params,
        signature=given,
    )


def _signed_params(sign_header: str) -> dict[str, str]:
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
    return params


def _check_sent_as_signed(headers: Mapping[str, str], params: Mapping[str, str]) -> None:
    # HTTP names are case-insensitive: ``docId`` and ``docid`` arrive as two values of one
    # name. The values sent under a name must be exactly the values signed under it.
    expected: dict[str, Counter[str]] = {}
    for name, value in params.items():
        expected.setdefault(name.lower(), Counter())[value] += 1
    for lowered, values in expected.items():
        sent = Counter(_values(headers, PREFIX + lowered))
        if sent != values:
            raise AuthError(f"header {PREFIX + lowered} was signed but not sent as signed")


def check_strict_freshness(
    signed: SignedRequest,
    *,
    now: datetime,
    skew: timedelta,
    replay_guard: ReplayGuard | None,
) -> None:
    """The ``strict`` profile: the timestamp (Vietnam time) within ±``skew`` of ``now`` and
    the signature not seen before (raises :class:`AuthExpired` / :class:`AuthReplay`)."""
    if abs(now - signed.timestamp) > skew:
        raise AuthExpired(f"timestamp {signed.params['timestamp']} is outside ±{skew}")
    if replay_guard is not None:
        replay_guard.check_and_remember(f"vxp:{signed.system_id}\x00{signed.signature}")


def verify_request(
    headers: Mapping[str, str],
    secret_for: Callable[[str], str | None],
    *,
    now: datetime | None = None,
    skew: timedelta = DEFAULT_SKEW,
    replay_guard: ReplayGuard | None = None,
) -> SignedRequest:
    """Verify a VXP request under the ``strict`` profile and return its parameters.

    ``secret_for`` maps a system id to its secret (``None``: unknown system). Raises
    :class:`AuthError` (bad or missing signature, unknown system, a signed header not sent as
    signed), :class:`AuthExpired` (timestamp outside ``skew``) or :class:`AuthReplay`.
    """

    def secrets_for(system_id: str) -> tuple[str, ...]:
        secret = secret_for(system_id)
        return () if secret is None else (secret,)

    signed = verify_signature(headers, secrets_for)
    check_strict_freshness(
        signed, now=now or datetime.now(VIETNAM), skew=skew, replay_guard=replay_guard
    )
    return signed


def _values(headers: Mapping[str, str], name: str) -> list[str]:
    getall = getattr(headers, "getall", None)
    if callable(getall):
        return list(getall(name, []))
    lowered = name.lower()
    return [v for k, v in headers.items() if k.lower() == lowered]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and not hasattr(headers, "getall"):
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value
