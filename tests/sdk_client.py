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

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import aiohttp

from tests.sdk_java import (
    ClientFailure,
    JavaHashMap,
    get_as_string,
    gson_object,
    http_exchange,
    java_timestamp,
    sdk_hash_file,
    string_hash_code,
)

__all__ = [
    "ClientFailure",
    "JavaHashMap",
    "SdkResult",
    "SdkService",
    "Vendor",
    "WireRequest",
    "get_as_string",
    "gson_object",
    "http_exchange",
    "java_timestamp",
    "sdk_hash_file",
    "string_hash_code",
]

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
