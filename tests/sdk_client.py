"""An SDK-faithful VXP client: the axis's Java SDK (``com.vpcp.services``, VNPT's SDKVXP
2.0.x) as interop/VXP-SDK.md describes it, on the wire and in how it reads answers.

It imports nothing of the gateway (it is written from that page, so it checks the gateway
rather than agreeing with it):

- one :class:`SdkService` object holds one header map (:class:`JavaHashMap`, a model of
  ``java.util.HashMap`` with its buckets and resizes); the constructor puts ``timestamp``
  (taken once, ``ddMMyyyy'T'HHmmss+SSSS`` in the JVM's zone) and ``systemid``; every call
  puts ``Content-Type`` and its parameters and never removes anything;
- the map is signed in ``HashMap`` iteration order, the sign-header written as Gson's
  ``JsonObject.toString()`` (:func:`gson_object`);
- every call is a POST except ``downloadEdoc`` (GET); ``sendEdoc``'s body is the file and
  ``\\r\\n``, its ``hash-file`` ``Integer.toHexString`` per byte;
- answers are read with ``getAsString()`` semantics (:func:`get_as_string`): a missing field
  or a JSON ``null`` is a failure inside the client, which hands back a result whose every
  field is ``None``; the ``sendEdoc`` answer is decoded as US-ASCII.

:class:`Vendor` is how a QLVB uses it: ``fresh`` (a new object per call) or ``long-lived``
(one object for the life of the process, the common case).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

VIETNAM = timezone(timedelta(hours=7))

PREFIX = "XroadVnpt-"
USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
VERSION = "3.0.201608"

RECEIVED_FIELDS = (
    "docId",
    "serviceType",
    "messageType",
    "created_time",
    "updated_time",
    "from",
    "to",
    "status",
    "status_desc",
)
SENT_FIELDS = (
    "senderDocId",
    "receiverDocId",
    "serviceType",
    "messageType",
    "fromCode",
    "toCode",
    "title",
    "notation",
    "sentTime",
    "receivedTime",
    "sendStatus",
    "sendStatusDesc",
    "receiveStatus",
    "receiveStatusDesc",
)
AGENCY_FIELDS = ("id", "code", "name", "mail", "pid", "oldCode")
AGENCY_QD20_FIELDS = ("id", "code", "name", "mail", "pid", "code102")
SYNC_FIELDS = (
    "id",
    "code",
    "name",
    "mail",
    "pid",
    "centerCode",
    "isAgency",
    "deleted",
    "version",
    "modifyDate",
)


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


# -- results --------------------------------------------------------------------------------


@dataclass
class SdkResult:
    """What the SDK hands the vendor; every field ``None`` after a client failure."""

    status: str | None = None
    error_code: str | None = None
    error_desc: str | None = None
    doc_id: str | None = None
    data: list[dict[str, str]] | None = None
    count: int | None = None
    file_path: Path | None = None
    content: bytes | None = None
    failure: str | None = None
    answer_was_json: bool = True

    @property
    def ok(self) -> bool:
        """What vendors test: ``status == "OK"``."""
        return self.status == "OK"


@dataclass(frozen=True)
class WireRequest:
    """One request as the SDK put it on the wire."""

    method: str
    op: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


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


# -- the service object ---------------------------------------------------------------------


class SdkService:
    """One ``KnobstickServiceImp`` / ``AgencyServiceImp`` object: one header map for its life."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        endpoint: str,
        system_id: str,
        secret: str,
        *,
        zone: tzinfo = VIETNAM,
        now: datetime | None = None,
        sent: list[WireRequest] | None = None,
    ) -> None:
        self.http = http
        self.endpoint = endpoint.rstrip("/")
        self.secret = secret
        self.map = JavaHashMap()
        self.map.put("timestamp", java_timestamp(now or datetime.now(zone), zone))
        self.map.put("systemid", system_id)
        self.sent = sent if sent is not None else []
        self.statuses: list[int] = []

    def wire_headers(self, content_type: str, params: dict[str, str]) -> list[tuple[str, str]]:
        """Put ``Content-Type`` and ``params`` into the map; return the headers to send."""
        self.map.put("Content-Type", content_type)
        for name, value in params.items():
            self.map.put(name, value)
        headers: list[tuple[str, str]] = []
        signed: list[tuple[str, str]] = []
        keys = ""
        for name, value in self.map.items():
            headers.append((PREFIX + name, value))
            signed.append((PREFIX + name, value))
            keys += name + ";"
        sign_header = gson_object(signed)
        mac = hmac.new(self.secret.encode("utf-8"), sign_header.encode("utf-8"), hashlib.sha256)
        headers += [
            ("Content-Type", content_type),
            (PREFIX + "sign-header-key", keys),
            (PREFIX + "sign-header", sign_header),
            (PREFIX + "hash-header", mac.hexdigest()),
            ("User-Agent", USER_AGENT),
            (PREFIX + "version", VERSION),
        ]
        return headers

    async def _exchange(
        self, op: str, params: dict[str, str], body: bytes, *, method: str = "POST", ctype: str
    ) -> bytes:
        headers = self.wire_headers(ctype, params)
        request = WireRequest(method, op, tuple(headers), body)
        self.sent.append(request)
        status, answer = await http_exchange(f"{self.endpoint}/{op}", method, headers, body)
        self.statuses.append(status)
        return answer

    @staticmethod
    def _head(answer: Any) -> SdkResult:
        return SdkResult(
            status=get_as_string(answer, "status"),
            error_code=get_as_string(answer, "ErrorCode"),
            error_desc=get_as_string(answer, "ErrorDesc"),
        )

    async def _simple(self, op: str, params: dict[str, str], body: bytes = b"") -> SdkResult:
        raw = await self._exchange(op, params, body, ctype="application/json")
        try:
            return self._head(json.loads(raw.decode("utf-8", "replace")))
        except (ClientFailure, ValueError) as exc:
            return SdkResult(failure=str(exc))

    async def _list(
        self, op: str, params: dict[str, str], fields: tuple[str, ...], *, text_is_empty: bool
    ) -> SdkResult:
        raw = await self._exchange(op, params, b"", ctype="application/json")
        try:
            answer = json.loads(raw.decode("utf-8", "replace"))
        except ValueError:
            if text_is_empty:  # the SDK reports a non-JSON received list as OK and empty
                return SdkResult("OK", "0", "", data=[], answer_was_json=False)
            return SdkResult(failure="not JSON")
        try:
            result = self._head(answer)
        except ClientFailure as exc:
            return SdkResult(failure=str(exc))
        if result.error_code == "0":
            try:
                items = answer.get("data")
                if not isinstance(items, list):
                    raise ClientFailure("data is not a list")
                result.data = [{name: get_as_string(i, name) for name in fields} for i in items]
            except ClientFailure as exc:
                result.failure = str(exc)
        return result

    # -- KnobstickServiceImp ------------------------------------------------------------

    async def send_edoc(
        self, packet: bytes, *, sender: str, messagetype: str = "edoc", to: str | None = None
    ) -> SdkResult:
        """``sendEdoc``: the file and ``\\r\\n``; the answer decoded as US-ASCII."""
        params = {"from": sender, "servicetype": "eDoc", "messagetype": messagetype}
        if to is not None:
            params["to"] = to
        params["hash-file"] = sdk_hash_file(packet)
        raw = await self._exchange(
            "sendEdoc", params, packet + b"\r\n", ctype="application/octet-stream"
        )
        try:
            answer = json.loads(raw.decode("ascii", "replace"))
            result = self._head(answer)
            result.doc_id = get_as_string(answer, "DocId")
        except (ClientFailure, ValueError) as exc:
            return SdkResult(failure=str(exc))
        return result

    async def get_received_edoc_list(self, messagetype: str = "edoc") -> SdkResult:
        """``getReceivedEdocList``: ``data`` holds the nine fields the SDK reads."""
        params = {"servicetype": "eDoc", "messagetype": messagetype}
        return await self._list("getReceivedEdocList", params, RECEIVED_FIELDS, text_is_empty=True)

    async def get_sent_edoc_list(self, messagetype: str = "edoc") -> SdkResult:
        """``getSentEdocList``: per recipient, the fourteen fields the SDK reads."""
        params = {"servicetype": "eDoc", "messagetype": messagetype}
        return await self._list("getSentEdocList", params, SENT_FIELDS, text_is_empty=False)

    async def get_edoc(self, doc_id: str, file_path: Path) -> SdkResult:
        """``getEdoc``: writes ``<filePath>/<yyyy>/<M>/<docId>.edxml`` when ErrorCode is 0."""
        params = {"docId": doc_id, "filePath": str(file_path)}
        raw = await self._exchange("getEdoc", params, b"{}", ctype="application/json")
        try:
            answer = json.loads(raw.decode("utf-8", "replace"))
            result = self._head(answer)
            if result.status != "FAIL":
                text = base64.b64decode(get_as_string(answer, "data")).decode("utf-8", "replace")
                if result.error_code == "0":
                    today = datetime.now()
                    folder = file_path / str(today.year) / str(today.month)
                    folder.mkdir(parents=True, exist_ok=True)
                    target = folder / f"{doc_id}.edxml"
                    target.write_text(text, encoding="utf-8")
                    result.file_path = target
                    result.content = text.encode("utf-8")
        except (ClientFailure, ValueError) as exc:
            return SdkResult(failure=str(exc))
        return result

    async def update_status(self, doc_id: str, status: str) -> SdkResult:
        """``updateStatus`` with ``docid`` (lower-case, unlike getEdoc's ``docId``)."""
        return await self._simple("updateStatus", {"docid": doc_id, "status": status}, b"{}")

    async def _count(self, op: str, messagetype: str) -> SdkResult:
        raw = await self._exchange(
            op, {"servicetype": "eDoc", "messagetype": messagetype}, b"", ctype="application/json"
        )
        try:
            answer = json.loads(raw.decode("utf-8", "replace"))
            result = self._head(answer)
            result.count = int(get_as_string(answer, "count"))
        except (ClientFailure, ValueError) as exc:
            return SdkResult(failure=str(exc))
        return result

    async def count_receive_edoc(self) -> SdkResult:
        """``countReceiveEdoc`` (written as GET in the SDK, sent as POST)."""
        return await self._count("countReceiveEdoc", "edoc")

    async def count_receive_status(self) -> SdkResult:
        """``countReceiveStatus`` (written as GET in the SDK, sent as POST)."""
        return await self._count("countReceiveStatus", "status")

    async def download_edoc(self, doc_id: str) -> bytes:
        """``downloadEdoc``: a plain GET answered with the raw file."""
        return await self._exchange(
            "downloadEdoc", {"docId": doc_id}, b"", method="GET", ctype="application/json"
        )

    # -- AgencyServiceImp ---------------------------------------------------------------

    async def get_agencies_list(self) -> SdkResult:
        """``getAgenciesList``: id, code, name, mail, pid, oldCode."""
        return await self._list("getAgenciesList", {}, AGENCY_FIELDS, text_is_empty=False)

    async def get_agencies_list_qd20(self) -> SdkResult:
        """``getAgenciesListQD20``: ``code102`` instead of ``oldCode``."""
        return await self._list("getAgenciesListQD20", {}, AGENCY_QD20_FIELDS, text_is_empty=False)

    async def get_synchronize_unit(self) -> SdkResult:
        """``getSynchronizeUnit``: the ten fields of a unit."""
        return await self._list("getSynchronizeUnit", {}, SYNC_FIELDS, text_is_empty=False)

    async def register_agency(self, record: dict[str, str]) -> SdkResult:
        """``registerAgency``: the agency as a JSON body."""
        body = json.dumps(record, ensure_ascii=False).encode("utf-8")
        return await self._simple("registerAgency", {}, body)

    async def delete_agency(self, code: str) -> SdkResult:
        """``deleteAgency``: ``AgencyCode`` header, ``{}`` body."""
        return await self._simple("deleteAgency", {"AgencyCode": code}, b"{}")


@dataclass
class Vendor:
    """A QLVB system using the SDK: ``fresh`` makes a service object per call, ``long-lived``
    keeps one knobstick and one agency object for its life."""

    http: aiohttp.ClientSession
    endpoint: str
    system_id: str
    secret: str
    mode: str = "long-lived"
    zone: tzinfo = VIETNAM
    sent: list[WireRequest] = field(default_factory=list)
    _knobstick: SdkService | None = None
    _agency: SdkService | None = None

    def _new(self) -> SdkService:
        return SdkService(
            self.http, self.endpoint, self.system_id, self.secret, zone=self.zone, sent=self.sent
        )

    @property
    def knobstick(self) -> SdkService:
        """The ``KnobstickServiceImp`` to call now."""
        if self.mode == "fresh":
            return self._new()
        if self._knobstick is None:
            self._knobstick = self._new()
        return self._knobstick

    @property
    def agency(self) -> SdkService:
        """The ``AgencyServiceImp`` to call now."""
        if self.mode == "fresh":
            return self._new()
        if self._agency is None:
            self._agency = self._new()
        return self._agency
