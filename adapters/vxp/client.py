"""The node as a client of an upstream axis (the national axis, or a hub node) over VXP.

- :class:`VxpClient`: signed calls laid out as the axis's Java SDK lays them out
  (interop/VXP-SDK.md, :func:`adapters.vxp.signing.sign_headers`: Java ``HashMap`` order,
  ``Content-Type`` signed, everything POST, ``sendEdoc`` body followed by ``\r\n`` with an
  unpadded-hex ``hash-file``), because the real axis is built for the SDK; a fresh timestamp
  per attempt (like an SDK object made per call); bounded retries with tenacity on network
  errors, HTTP 5xx and ErrorCode 20, each retry logged.
- :class:`VxpTransport`: the ``peer`` delivery transport: ``sendEdoc`` of the exact stored
  packet bytes to the upstream (the signed packet is never rebuilt, so signatures survive),
  with the message's path and this node's hop in the signed ``hops`` header
  (``gateway.core.hops``).
- :class:`VxpPoller`: polls ``getReceivedEdocList``, fetches with ``getEdoc`` (the packet
  and the path the upstream sends beside it), ingests through ``Gateway.submit`` and
  answers ``updateStatus`` ``done`` (accepted or duplicate, path stored) or ``fail``
  (refused); transient failures leave the item for the next poll.
- :class:`VxpAgencySource`: the upstream's agency list as directory records (export shape of
  ``gateway.directory.resolver.agency_from_record``) for the directory sync.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from adapters.vxp.errors import SYSTEM_ERROR
from adapters.vxp.sdk_wire import CRLF
from adapters.vxp.signing import sdk_file_hash, sign_headers
from edxml.errors import EdxmlError
from gateway.core.hops import hops_text, onward, parse_hops
from gateway.core.views import Hop
from gateway.credentials.auth import Caller
from gateway.delivery.transports import PermanentDeliveryError, RetryableDeliveryError
from gateway.errors import GatewayError, RequestInvalid, Unavailable
from gateway.ports import Core, DeliveryView, MessageView

log = structlog.get_logger("adapters.vxp.client")


class VxpCallFailed(Exception):
    """Raised when the upstream answers ``status: FAIL`` (``error_code`` is its ErrorCode)."""

    def __init__(self, op: str, error_code: str, description: str) -> None:
        self.op = op
        self.error_code = error_code
        self.description = description
        super().__init__(f"{op}: ErrorCode {error_code}: {description}")


class VxpUnreachable(Exception):
    """Raised when the upstream cannot be reached or answers with a server error."""


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, VxpUnreachable):
        return True
    return isinstance(exc, VxpCallFailed) and exc.error_code == SYSTEM_ERROR


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("vxp.retry", attempt=state.attempt_number, error=str(error))


class VxpClient:
    """Calls one upstream VXP endpoint as one system (id + secret)."""

    def __init__(
        self,
        endpoint: str,
        system_id: str,
        secret: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 30.0,
        attempts: int = 4,
        max_wait_s: float = 10.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.system_id = system_id
        self._secret = secret
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._attempts = attempts
        self._max_wait = max_wait_s

    async def close(self) -> None:
        """Close the HTTP session if this client opened it."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def call(
        self,
        op: str,
        params: dict[str, str] | None = None,
        *,
        body: bytes | None = None,
        method: str = "POST",
    ) -> dict[str, Any]:
        """Call ``op``; return the JSON answer when ``status`` is ``OK``.

        As the SDK does, ``Content-Type`` is put into the signed parameters first
        (``application/json`` unless given) and a ``sendEdoc`` body gets its ``hash-file``
        (unless given) and a trailing ``\r\n``.

        Raises :class:`VxpCallFailed` for a ``FAIL`` answer (after retries when ErrorCode is
        20) and :class:`VxpUnreachable` when every attempt failed on the network or 5xx.
        """
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=0.2, max=self._max_wait),
            retry=retry_if_exception_type((VxpUnreachable, VxpCallFailed)),
            before_sleep=_log_retry,
            reraise=True,
        )
        signed: dict[str, str] = {"Content-Type": "application/json"}
        signed.update(params or {})
        if op == "sendEdoc" and body is not None:
            signed.setdefault("hash-file", sdk_file_hash(body))
            body = body + CRLF
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        return await self._once(op, signed, body, method)
                    except VxpCallFailed as exc:
                        if not _retryable(exc):
                            # Not a retry type: tenacity re-raises it at once.
                            raise _Final(exc) from exc
                        raise
        except _Final as final:
            raise final.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self, op: str, params: dict[str, str], body: bytes | None, method: str
    ) -> dict[str, Any]:
        headers = sign_headers(params, system_id=self.system_id, secret=self._secret)
        url = f"{self.endpoint}/{op}"
        try:
            async with self._http().request(
                method, url, headers=headers, data=body, timeout=self._timeout
            ) as response:
                text = await response.text()
                if response.status >= 500:
                    raise VxpUnreachable(f"{op}: HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise VxpUnreachable(f"{op}: {exc!r}") from exc
        try:
            answer = json.loads(text)
        except ValueError as exc:
            raise VxpUnreachable(f"{op}: HTTP {response.status}, not JSON") from exc
        if not isinstance(answer, dict) or answer.get("status") != "OK":
            data = answer if isinstance(answer, dict) else {}
            raise VxpCallFailed(
                op, str(data.get("ErrorCode", SYSTEM_ERROR)), str(data.get("ErrorDesc", ""))
            )
        return answer

    # -- operations -------------------------------------------------------------------

    async def send_edoc(
        self,
        packet: bytes,
        *,
        sender: str,
        to: Sequence[str] = (),
        messagetype: str = "edoc",
        hops: Sequence[Hop] = (),
    ) -> str:
        """``sendEdoc`` the exact packet bytes; return the upstream's ``DocId``.

        ``hops`` (node, received_at, forwarded_at) travel in the signed ``hops`` header,
        beside the packet, never inside it.
        """
        params = {
            "Content-Type": "application/octet-stream",
            "from": sender,
            "servicetype": "eDoc",
            "messagetype": messagetype,
        }
        if to:
            params["to"] = json.dumps(list(to))
        if hops:
            params["hops"] = hops_text(hops)
        answer = await self.call("sendEdoc", params, body=packet)
        return str(answer.get("DocId", ""))

    async def get_received_edoc_list(self, messagetype: str = "edoc") -> list[dict[str, Any]]:
        """``getReceivedEdocList``: the items waiting for this system upstream."""
        params = {"servicetype": "eDoc", "messagetype": messagetype}
        answer = await self.call("getReceivedEdocList", params)
        return list(answer.get("data") or [])

    async def count_receive_edoc(self, messagetype: str = "edoc") -> int:
        """``countReceiveEdoc``: how many items wait upstream."""
        params = {"servicetype": "eDoc", "messagetype": messagetype}
        answer = await self.call("countReceiveEdoc", params)
        return int(answer.get("count") or 0)

    async def get_edoc(self, doc_id: str) -> bytes:
        """``getEdoc``: the packet bytes (``filePath``, the SDK's local folder, is sent too)."""
        packet, _ = await self.get_edoc_with_hops(doc_id)
        return packet

    async def get_edoc_with_hops(self, doc_id: str) -> tuple[bytes, tuple[Hop, ...]]:
        """``getEdoc``: the packet bytes and the path the upstream sends beside them (none
        from an axis that sends none; an unreadable path is logged and left out)."""
        answer = await self.call("getEdoc", {"docId": doc_id, "filePath": "."}, body=b"{}")
        packet = base64.b64decode(answer.get("data") or "")
        try:
            hops = parse_hops(answer["hops"]) if answer.get("hops") else ()
        except RequestInvalid as exc:
            log.warning("vxp.hops_unreadable", doc_id=doc_id, error=str(exc))
            hops = ()
        return packet, hops

    async def update_status(self, doc_id: str, status: str) -> None:
        """``updateStatus`` with a transport acknowledgement: done | fail | processing."""
        await self.call("updateStatus", {"docid": doc_id, "status": status}, body=b"{}")

    async def get_agencies_list(self, *, qd20: bool = False) -> list[dict[str, Any]]:
        """``getAgenciesList`` (or ``getAgenciesListQD20``): the upstream's agencies."""
        op = "getAgenciesListQD20" if qd20 else "getAgenciesList"
        answer = await self.call(op, {})
        return list(answer.get("data") or [])


class _Final(Exception):
    """Carries a non-retryable failure through tenacity (which re-raises it at once)."""

    def __init__(self, error: VxpCallFailed) -> None:
        self.error = error
        super().__init__(str(error))


PathOf = Callable[[str], Awaitable[Sequence[Hop]]]


class VxpTransport:
    """Delivery transport to an upstream axis: one ``sendEdoc`` per delivery.

    ``path_of`` (the core's ``onward_hops``) gives the path to send on: the hops the
    message came with, then this node's; without it, only this node's hop (``node``)."""

    kind = "peer"

    def __init__(
        self, client: VxpClient, *, node: str | None = None, path_of: PathOf | None = None
    ) -> None:
        self.client = client
        self.node = node
        self.path_of = path_of

    async def _hops(self, message: MessageView) -> Sequence[Hop]:
        if self.path_of is None:
            return onward((), self.node, message.accepted_at) if self.node else ()
        try:
            return await self.path_of(message.id)
        except GatewayError as exc:  # the store is away: send later, with the whole path
            raise RetryableDeliveryError(f"path of {message.id} unreadable: {exc}") from exc

    async def deliver(self, delivery: DeliveryView, packet: bytes, message: MessageView) -> None:
        """Send ``packet`` unchanged, with its path and this node's hop in the request;
        raise retryable or permanent delivery errors."""
        messagetype = "status" if message.kind == "status" else "edoc"
        hops = await self._hops(message)
        try:
            doc_id = await self.client.send_edoc(
                packet,
                sender=message.sender,
                to=[delivery.resolved_code],
                messagetype=messagetype,
                hops=hops,
            )
        except VxpUnreachable as exc:
            raise RetryableDeliveryError(str(exc)) from exc
        except VxpCallFailed as exc:
            if exc.error_code == SYSTEM_ERROR:
                raise RetryableDeliveryError(str(exc)) from exc
            raise PermanentDeliveryError(str(exc)) from exc
        log.info("vxp.forwarded", delivery_id=delivery.id, upstream_doc_id=doc_id)

    async def close(self) -> None:
        """Close the client's HTTP session."""
        await self.client.close()


class VxpPoller:
    """Pulls what the upstream holds for this node and ingests it through the core."""

    def __init__(
        self,
        client: VxpClient,
        gateway: Core,
        caller: Caller,
        *,
        interval_s: float = 10.0,
        messagetypes: Sequence[str] = ("edoc", "status"),
    ) -> None:
        self.client = client
        self.gateway = gateway
        self.caller = caller
        self.interval_s = interval_s
        self.messagetypes = tuple(messagetypes)

    async def poll_once(self) -> int:
        """Run one pass; return how many items were acknowledged upstream."""
        handled = 0
        for messagetype in self.messagetypes:
            for item in await self.client.get_received_edoc_list(messagetype):
                doc_id = str(item.get("docId") or item.get("DocId") or "")
                if doc_id and await self._ingest(doc_id):
                    handled += 1
        return handled

    async def _ingest(self, doc_id: str) -> bool:
        raw, hops = await self.client.get_edoc_with_hops(doc_id)
        try:
            receipt = await self.gateway.submit(raw, self.caller, via="vxp-upstream", hops=hops)
        except Unavailable as exc:
            log.warning("vxp.ingest_deferred", doc_id=doc_id, code=exc.code)
            return False
        except (GatewayError, EdxmlError) as exc:
            log.warning("vxp.ingest_refused", doc_id=doc_id, code=exc.code)
            await self.client.update_status(doc_id, "fail")
            return True
        await self.client.update_status(doc_id, "done")
        log.info("vxp.ingested", doc_id=doc_id, message_id=receipt.message_id)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every ``interval_s`` until ``stop`` is set; errors are logged, never fatal."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except (VxpUnreachable, VxpCallFailed) as exc:
                log.warning("vxp.poll_failed", error=str(exc))
            except Exception:
                log.exception("vxp.poll_error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)


class VxpAgencySource:
    """The upstream's agency list as directory records, routed to the upstream (``peer``)."""

    def __init__(self, client: VxpClient, *, node: str) -> None:
        self.client = client
        self.node = node

    async def fetch(self) -> list[dict[str, Any]]:
        """Return one record per upstream agency (``agency_from_record`` shape)."""
        records = []
        for item in await self.client.get_agencies_list(qd20=True):
            code = str(item.get("code") or "").strip()
            name = str(item.get("name") or "").strip()
            if not code or not name:
                continue
            records.append(
                {
                    "code": code,
                    "old_code": item.get("code102") or item.get("oldCode") or None,
                    "name": name,
                    "parent_code": item.get("pid") or None,
                    "mail": item.get("mail") or None,
                    "endpoint_kind": "peer",
                    "endpoint_url": self.client.endpoint,
                    "endpoint_node": self.node,
                }
            )
        return records
