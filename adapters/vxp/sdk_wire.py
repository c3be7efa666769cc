"""How the axis's Java SDK lays out a request (interop/VXP-SDK.md), for our own client.

The SDK keeps the parameters of a call in a ``java.util.HashMap`` and signs them in that map's
iteration order, so a node that calls the real axis must produce the same order, the same
timestamp form and the same ``hash-file`` form. :class:`SdkHeaderMap` is that map;
:func:`hashmap_order` reproduces Java 8+ ``HashMap`` iteration (bucket index of the spread
``String.hashCode``, insertion order inside a bucket, table doubled past 0.75 load).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime, tzinfo

PREFIX = "XroadVnpt-"
SIGN_HEADER = "XroadVnpt-sign-header"
SIGN_HEADER_KEY = "XroadVnpt-sign-header-key"
HASH_HEADER = "XroadVnpt-hash-header"
VERSION_HEADER = "XroadVnpt-version"
SDK_VERSION = "3.0.201608"
SDK_USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
CRLF = b"\r\n"

_INITIAL_CAPACITY = 16
_LOAD_FACTOR = 0.75


def java_string_hash(text: str) -> int:
    """Return Java's ``String.hashCode()`` of ``text`` as an unsigned 32-bit value."""
    units = text.encode("utf-16-be")
    value = 0
    for i in range(0, len(units), 2):
        value = (31 * value + int.from_bytes(units[i : i + 2], "big")) & 0xFFFFFFFF
    return value


def hashmap_order(keys: Sequence[str]) -> list[str]:
    """Return ``keys`` (distinct, in insertion order) in ``HashMap`` iteration order."""
    capacity = _INITIAL_CAPACITY
    while len(keys) > capacity * _LOAD_FACTOR:
        capacity *= 2
    position = {key: i for i, key in enumerate(keys)}

    def bucket(key: str) -> tuple[int, int]:
        h = java_string_hash(key)
        return ((h ^ (h >> 16)) & (capacity - 1), position[key])

    return sorted(keys, key=bucket)


def sdk_timestamp(moment: datetime, zone: tzinfo) -> str:
    """``SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS")`` of ``moment`` in ``zone``."""
    local = moment.astimezone(zone)
    return f"{local.strftime('%d%m%YT%H%M%S')}+{local.microsecond // 1000:04d}"


def sdk_file_hash(data: bytes) -> str:
    """SHA-256 of ``data`` hex-encoded per byte with ``Integer.toHexString`` (the zero of
    each byte below 0x10 is lost: usually 62–64 characters, sometimes fewer)."""
    return "".join(format(byte, "x") for byte in hashlib.sha256(data).digest())


class SdkHeaderMap:
    """The SDK service object's one header map: keys accumulate, nothing is removed."""

    def __init__(self, system_id: str, timestamp: str) -> None:
        self._values: dict[str, str] = {"timestamp": timestamp, "systemid": system_id}

    def put(self, name: str, value: str) -> None:
        """``map.put``: a new key goes last in its bucket, an old key keeps its place."""
        self._values[name] = value

    def signed_headers(self, secret: str) -> list[tuple[str, str]]:
        """Return the HTTP headers of a call, in the order the SDK writes them."""
        order = hashmap_order(list(self._values))
        sign_object = {PREFIX + name: self._values[name] for name in order}
        sign_header = json.dumps(sign_object, ensure_ascii=False, separators=(",", ":"))
        mac = hmac.new(secret.encode("utf-8"), sign_header.encode("utf-8"), hashlib.sha256)
        headers = [(PREFIX + name, self._values[name]) for name in order]
        if "Content-Type" in self._values:
            headers.append(("Content-Type", self._values["Content-Type"]))
        headers += [
            (SIGN_HEADER_KEY, "".join(f"{name};" for name in order)),
            (SIGN_HEADER, sign_header),
            (HASH_HEADER, mac.hexdigest()),
            ("User-Agent", SDK_USER_AGENT),
            (VERSION_HEADER, SDK_VERSION),
        ]
        return headers
