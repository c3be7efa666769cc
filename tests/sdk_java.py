"""The Java side of the axis SDK, reproduced for tests/sdk_client.py: ``String.hashCode``,
``java.util.HashMap`` iteration order, Gson's ``JsonObject.toString()``, ``SimpleDateFormat``,
``Integer.toHexString`` hex, Gson's ``getAsString()``, and a raw HTTP/1.1 exchange that keeps
header lines exactly as written. Checked against a real JVM in
tests/adapters/test_sdk_wire_java.py."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlsplit

# -- Java pieces ----------------------------------------------------------------------------


def string_hash_code(text: str) -> int:
    """``String.hashCode()``: ``s[0]*31^(n-1) + … + s[n-1]`` over UTF-16 units, int32."""
    data = text.encode("utf-16-be")
    value = 0
    for high, low in zip(data[::2], data[1::2], strict=True):
        value = (value * 31 + (high << 8 | low)) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


class JavaHashMap:
    """``java.util.HashMap<String, String>``: table of 16 buckets doubled when the size passes
    0.75 of it (a resize keeps each bucket's order), a bucket of 9 in a table below 64 also
    resizes (``treeifyBin``); iteration walks buckets in index order."""

    def __init__(self) -> None:
        self._table: list[list[list[str]]] = []
        self._size = 0
        self._threshold = 0

    @staticmethod
    def _hash(key: str) -> int:
        h = string_hash_code(key) & 0xFFFFFFFF
        return h ^ (h >> 16)

    def _resize(self) -> None:
        old = self._table
        capacity = len(old) * 2 if old else 16
        self._table = [[] for _ in range(capacity)]
        self._threshold = int(capacity * 0.75)
        for bucket in old:
            for entry in bucket:
                self._table[self._hash(entry[0]) & (capacity - 1)].append(entry)

    def put(self, key: str, value: str) -> None:
        """``put``: replace in place, or append at the tail of the key's bucket."""
        if not self._table:
            self._resize()
        bucket = self._table[self._hash(key) & (len(self._table) - 1)]
        for entry in bucket:
            if entry[0] == key:
                entry[1] = value
                return
        bucket.append([key, value])
        if len(bucket) >= 9 and len(self._table) < 64:
            self._resize()
        self._size += 1
        if self._size > self._threshold:
            self._resize()

    def items(self) -> list[tuple[str, str]]:
        """``entrySet()`` in iteration order."""
        return [(k, v) for bucket in self._table for k, v in bucket]


_GSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\b": "\\b", "\n": "\\n", "\r": "\\r"}
_GSON_ESCAPES.update({"\f": "\\f", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _gson_string(text: str) -> str:
    out = []
    for char in text:
        if char in _GSON_ESCAPES:
            out.append(_GSON_ESCAPES[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def gson_object(pairs: list[tuple[str, str]]) -> str:
    """``JsonObject.toString()`` of string members: compact, no HTML escaping, raw UTF-8."""
    return "{" + ",".join(f"{_gson_string(k)}:{_gson_string(v)}" for k, v in pairs) + "}"


def java_timestamp(moment: datetime, zone: tzinfo) -> str:
    """``new SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS").format(date)`` in ``zone``."""
    local = moment.astimezone(zone)
    millis = local.microsecond // 1000
    return local.strftime("%d%m%Y") + "T" + local.strftime("%H%M%S") + "+" + str(millis).zfill(4)


def sdk_hash_file(data: bytes) -> str:
    """SHA-256 written byte by byte with ``Integer.toHexString(0xff & b)``."""
    return "".join(hex(0xFF & b)[2:] for b in hashlib.sha256(data).digest())


class ClientFailure(Exception):
    """What ``getAsString()`` (or the JSON parser) throws inside the SDK."""


def get_as_string(obj: Any, name: str) -> str:
    """Gson ``obj.get(name).getAsString()``: missing or ``null`` throws; numbers and booleans
    are rendered; objects and arrays throw."""
    if not isinstance(obj, dict) or name not in obj or obj[name] is None:
        raise ClientFailure(f"{name} is missing or null")
    value = obj[name]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    raise ClientFailure(f"{name} is not a primitive")


# -- HTTP -----------------------------------------------------------------------------------


async def http_exchange(
    url: str, method: str, headers: list[tuple[str, str]] | tuple[tuple[str, str], ...], body: bytes
) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request with exactly these header lines (names, case, order and
    repeats as given: aiohttp's client would fold ``docId``/``docid`` into one) and return
    the status and body of the answer."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"{method} {parts.path or '/'} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(head + (body if method == "POST" else b""))
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()

    raw = await asyncio.wait_for(exchange(), timeout=120)
    status_head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = status_head.decode("latin-1").split("\r\n")
    answer_headers = {
        k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)
    }
    if answer_headers.get("transfer-encoding", "").lower() == "chunked":
        rest = _dechunk(rest)
    elif "content-length" in answer_headers:
        rest = rest[: int(answer_headers["content-length"])]
    return int(status_line.split(" ", 2)[1]), rest


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out
