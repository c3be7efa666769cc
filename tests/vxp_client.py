"""A VXP test client written from SPEC §6 alone (it imports nothing of the gateway).

It speaks to an axis-compatible endpoint the way the axis SDK does: every parameter in a
header ``XroadVnpt-<name>`` (plus ``systemid`` and ``timestamp`` formatted
``ddMMyyyy'T'HHmmss+SSSS``), ``XroadVnpt-sign-header`` the compact JSON of exactly those
headers, ``XroadVnpt-sign-header-key`` the names joined by ``;``, ``XroadVnpt-hash-header`` the
lower-case hex HMAC-SHA256 of the sign-header string keyed with the secret. Tests use its
knobs (``timestamp``, ``tamper``, ``secret``) to send wrong signatures and replays.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp

VN = timezone(timedelta(hours=7))


def vxp_timestamp(moment: datetime | None = None) -> str:
    """``ddMMyyyy'T'HHmmss+SSSS`` in Vietnam time, milliseconds padded to four digits."""
    moment = (moment or datetime.now(VN)).astimezone(VN)
    return moment.strftime("%d%m%YT%H%M%S") + f"+{moment.microsecond // 1000:04d}"


def sdk_hash_file(data: bytes) -> str:
    """SHA-256 hex the way the Java SDK prints it (``Integer.toHexString`` per byte)."""
    return "".join(format(b, "x") for b in hashlib.sha256(data).digest())


@dataclass
class SignedCall:
    """One prepared request: the headers sent, so a test can send them again (replay)."""

    op: str
    headers: dict[str, str]
    body: bytes | None = None
    method: str = "POST"


@dataclass
class VxpTestClient:
    """Calls one VXP endpoint as one system."""

    session: aiohttp.ClientSession
    endpoint: str
    system_id: str
    secret: str
    sent: list[SignedCall] = field(default_factory=list)

    def prepare(
        self,
        op: str,
        params: dict[str, str] | None = None,
        *,
        body: bytes | None = None,
        method: str = "POST",
        timestamp: str | None = None,
        secret: str | None = None,
    ) -> SignedCall:
        """Build the signed headers of a call without sending it."""
        names: dict[str, str] = {
            "systemid": self.system_id,
            "timestamp": timestamp or vxp_timestamp(),
        }
        names.update(params or {})
        prefixed = {f"XroadVnpt-{k}": v for k, v in names.items()}
        sign_header = json.dumps(prefixed, separators=(",", ":"), ensure_ascii=False)
        mac = hmac.new(
            (secret or self.secret).encode("utf-8"), sign_header.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        headers = dict(prefixed)
        if "Content-Type" in names:
            headers["Content-Type"] = names["Content-Type"]
        headers["XroadVnpt-sign-header"] = sign_header
        headers["XroadVnpt-sign-header-key"] = ";".join(names)
        headers["XroadVnpt-hash-header"] = mac
        headers["XroadVnpt-version"] = "3.0.201608"
        headers["User-Agent"] = "JAVASDKAgent/1.0.0 XRoad/VPCP"
        return SignedCall(op, headers, body, method)

    async def send(self, call: SignedCall) -> dict[str, Any]:
        """Send a prepared call; return the JSON answer (it must be JSON with HTTP 200)."""
        self.sent.append(call)
        url = f"{self.endpoint.rstrip('/')}/{call.op}"
        timeout = aiohttp.ClientTimeout(total=120)
        async with self.session.request(
            call.method, url, headers=call.headers, data=call.body, timeout=timeout
        ) as response:
            text = await response.text()
            assert response.status == 200, f"{call.op}: HTTP {response.status}: {text[:500]}"
            answer = json.loads(text)
        assert answer["status"] in ("OK", "FAIL"), answer
        assert isinstance(answer["ErrorCode"], str), answer
        assert "ErrorDesc" in answer, answer
        return answer  # type: ignore[no-any-return]

    async def call(
        self, op: str, params: dict[str, str] | None = None, **kw: Any
    ) -> dict[str, Any]:
        """Prepare and send one call."""
        return await self.send(self.prepare(op, params, **kw))

    # -- the operations of SPEC §6 -----------------------------------------------------

    async def send_edoc(
        self,
        packet: bytes,
        *,
        sender: str,
        messagetype: str = "edoc",
        to: list[str] | None = None,
        hash_file: bool = True,
    ) -> dict[str, Any]:
        """``sendEdoc``: body = the raw .edxml bytes; answer carries ``DocId``."""
        params = {
            "from": sender,
            "servicetype": "eDoc",
            "messagetype": messagetype,
            "Content-Type": "application/octet-stream",
        }
        if to:
            params["to"] = json.dumps(to)
        if hash_file:
            params["hash-file"] = sdk_hash_file(packet)
        return await self.call("sendEdoc", params, body=packet)

    async def get_received_edoc_list(self, messagetype: str = "edoc") -> dict[str, Any]:
        """``getReceivedEdocList``: pending items (``docId``, ``from``, ``to``, ``status``…)."""
        return await self.call(
            "getReceivedEdocList",
            {"servicetype": "eDoc", "messagetype": messagetype, "Content-Type": "application/json"},
        )

    async def get_edoc(self, doc_id: str) -> tuple[dict[str, Any], bytes | None]:
        """``getEdoc``: the answer and the decoded packet bytes (``None`` on failure)."""
        answer = await self.call("getEdoc", {"docId": doc_id, "Content-Type": "application/json"})
        if answer["status"] != "OK":
            return answer, None
        return answer, base64.b64decode(answer["data"])

    async def update_status(self, doc_id: str, status: str) -> dict[str, Any]:
        """``updateStatus``: transport acknowledgement done | fail | processing."""
        return await self.call(
            "updateStatus",
            {"docId": doc_id, "status": status, "Content-Type": "application/json"},
        )

    async def get_sent_edoc_list(self) -> dict[str, Any]:
        """``getSentEdocList``: what this system sent, per recipient."""
        return await self.call(
            "getSentEdocList", {"servicetype": "eDoc", "Content-Type": "application/json"}
        )

    async def get_agencies_list(self, qd20: bool = False) -> dict[str, Any]:
        """``getAgenciesList`` (or ``getAgenciesListQD20``)."""
        op = "getAgenciesListQD20" if qd20 else "getAgenciesList"
        return await self.call(op, {"Content-Type": "application/json"})

    async def register_agency(self, record: dict[str, Any]) -> dict[str, Any]:
        """``registerAgency``: JSON body describing the agency."""
        body = json.dumps(record).encode("utf-8")
        return await self.call("registerAgency", {"Content-Type": "application/json"}, body=body)

    async def delete_agency(self, code: str) -> dict[str, Any]:
        """``deleteAgency``: the agency code in a header."""
        return await self.call("deleteAgency", {"code": code, "Content-Type": "application/json"})

    async def count_receive_edoc(self, messagetype: str = "edoc") -> dict[str, Any]:
        """``countReceiveEdoc``: how many items wait."""
        return await self.call(
            "countReceiveEdoc",
            {"servicetype": "eDoc", "messagetype": messagetype, "Content-Type": "application/json"},
            method="GET",
        )
