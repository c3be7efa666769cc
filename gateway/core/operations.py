"""The core operations facade every inbound adapter calls (REST, VXP, SOAP).

``Gateway`` owns no protocol: it takes bytes and an authenticated :class:`Caller`, and
answers with receipts, inbox items, packet bytes and traces. Decisions on who may read or
acknowledge what are made here, once: a caller sees a message only when one of its
agencies is the sender or a recipient.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from edxml.build import build, status_message
from edxml.model import Organization, ResponseFor, StatusCode, StatusMessage
from gateway.audit import chain as audit
from gateway.core.hops import onward, record_path, stored_path
from gateway.core.intake import Intake
from gateway.core.receipts import NodeIdentity, Receipt
from gateway.core.views import (
    Hop,
    InboxItem,
    MessageSummary,
    RecipientState,
    SentItem,
    StatusEntry,
    Trace,
)
from gateway.credentials.auth import Caller
from gateway.errors import GatewayError, NotFound, RequestInvalid
from gateway.legal.takedown import attachment_reports, ensure_fetchable, get_tombstone
from gateway.store import repository as repo
from gateway.store.database import transaction
from gateway.store.readers import read
from gateway.store.sent_reads import deliveries_by_message, latest_statuses

log = structlog.get_logger(__name__)
NODE_CALLER = Caller("node", frozenset(), "off", "node")


_MAX_CURSOR = 2**63 - 1  # the store's 64-bit sequence


def inbox_cursor(after: str | None) -> str | None:
    """Validate an inbox cursor: ASCII digits naming a 64-bit sequence, or nothing."""
    if not after:
        return None
    if not (after.isascii() and after.isdigit()) or int(after) > _MAX_CURSOR:
        raise RequestInvalid(f"after: not an inbox cursor: {after[:40]!r}", path="after")
    return after


class Gateway:
    """Core operations: submit, inbox, fetch, ack, trace, sent."""

    def __init__(
        self, intake: Intake, node: NodeIdentity | None, *, reader: AsyncEngine | None = None
    ) -> None:
        """``reader``: the engine reads use (``gateway.store.readers``; default the store's)."""
        self.intake = intake
        self.engine = intake.engine
        self.reader = reader or intake.engine
        self.blobs = intake.blobs
        self.directory = intake.directory
        self.node = node
        # Told of every send or fetch by a calling system (the inactivity rule reads it).
        self.on_activity: Callable[[str], None] | None = None

    def _active(self, caller: Caller) -> None:
        if self.on_activity is not None and caller.role == "system":
            self.on_activity(caller.system_id)

    def agencies_of(self, caller: Caller) -> frozenset[str]:
        """Return every agency code the caller may act for (normal form: ``core.access``)."""
        return self.intake.access.speaks_for(caller)

    async def submit(
        self, raw: bytes, caller: Caller, *, via: str = "rest", hops: Sequence[Hop] = ()
    ) -> Receipt:
        """Accept a document or status packet; return its receipt (``duplicate`` set when
        the same packet was accepted before). ``hops``: the path a relaying node reported,
        stored beside the message before the answer (see ``gateway.core.hops``)."""
        receipt = await self.intake.accept(raw, caller, via=via, hops=hops)
        if hops:
            await record_path(
                self.engine, receipt.message_id, hops, reported_by=caller.system_id, via=via
            )
        self._active(caller)
        return receipt

    async def inbox(
        self, caller: Caller, *, after: str | None = None, limit: int = 100
    ) -> list[InboxItem]:
        """Return deliveries waiting for the caller's agencies, in cursor order; ``after``
        must be a cursor this method returned (``RequestInvalid`` otherwise)."""
        after = inbox_cursor(after)
        self._active(caller)
        agencies = self.agencies_of(caller)
        if not agencies:
            return []
        async with read(self.reader) as conn:
            rows = await repo.inbox(conn, agencies, after=after, limit=limit)
            reports = await attachment_reports(conn, {r.message_id for r in rows})
        return [
            InboxItem(
                cursor=r.cursor,
                delivery_id=r.delivery_id,
                message_id=r.message_id,
                kind=r.kind,
                sender=r.sender,
                recipient=r.resolved_code,
                document_id=r.document_id,
                content_sha256=r.content_sha256,
                size=r.size,
                accepted_at=r.accepted_at,
                delivered_at=r.delivered_at,
                status_code=r.status_code,
                business_doc_type=r.business_doc_type,
                attachments=tuple(reports.get(r.message_id, ())),
            )
            for r in rows
        ]

    async def _visible(self, caller: Caller, message_id: str) -> tuple[Any, list[Any]]:
        async with read(self.reader) as conn:
            message = await repo.get_message(conn, message_id)
            deliveries = await repo.deliveries_for(conn, message_id) if message else []
        if message is None:
            raise NotFound(message_id)
        if caller.role == "admin":
            return message, deliveries
        agencies = self.agencies_of(caller)
        mine = message.sender in agencies or any(
            d.resolved_code in agencies or d.recipient_code in agencies for d in deliveries
        )
        if not mine:
            raise NotFound(message_id)  # not 403: do not reveal that it exists
        return message, deliveries

    async def fetch(self, caller: Caller, message_id: str) -> bytes:
        """Return the stored packet bytes, for its sender and its recipients only."""
        message, _ = await self._visible(caller, message_id)
        await ensure_fetchable(self.engine, message, self.agencies_of(caller), caller.role)
        self._active(caller)
        return await self.blobs.get(message.blob_key)

    async def _own_deliveries(self, caller: Caller, message_id: str) -> tuple[Any, list[str]]:
        """The message and the recipient codes of its deliveries the caller speaks for
        (``NotFound`` when there are none: the caller is not a recipient)."""
        message, deliveries = await self._visible(caller, message_id)
        agencies = self.agencies_of(caller)
        codes = [
            d.recipient_code
            for d in deliveries
            if d.resolved_code in agencies or d.recipient_code in agencies
        ]
        if not codes:
            raise NotFound(message_id)
        return message, codes

    async def ack(self, caller: Caller, message_id: str) -> list[str]:
        """Confirm arrival for the caller's agencies; emit status 01 to the sender for each
        acknowledged document delivery. Returns the recipient codes acknowledged now."""
        message, codes = await self._own_deliveries(caller, message_id)
        async with transaction(self.engine) as conn:
            changed = await repo.mark_acked(conn, message_id, codes)
            for row in changed:
                await audit.append(
                    conn,
                    event="acked",
                    actor=caller.system_id,
                    message_id=message_id,
                    agency=row.resolved_code,
                )
        # A recall is answered with 15/16, not 01: its arrival changes no state.
        if message.kind == "document" and message.business_doc_type != 1:
            for row in changed:
                await self._emit_arrived(message, row)
        return [row.recipient_code for row in changed]

    async def refuse(self, caller: Caller, message_id: str, reason: str = "") -> list[str]:
        """Record that the caller's agencies refused the transfer of a fetched delivery (VXP
        ``updateStatus fail``): it becomes ``failed`` (the sender sees it in its trace) and
        no status 01 is sent. A repeat changes nothing. Returns the codes refused now."""
        _, codes = await self._own_deliveries(caller, message_id)
        async with transaction(self.engine) as conn:
            changed = await repo.mark_failed(conn, message_id, codes, reason)
            for row in changed:
                await audit.append(
                    conn,
                    event="transfer_refused",
                    actor=caller.system_id,
                    message_id=message_id,
                    agency=row.resolved_code,
                    outcome="failed",
                    detail={"reason": reason},
                )
        return [row.recipient_code for row in changed]

    async def _emit_arrived(self, message: Any, delivery: Any) -> None:
        """Send status 01 on behalf of the recipient; skipped when its state moved on."""
        if self.node is None:
            return
        async with transaction(self.engine) as conn:
            last = await repo.last_status(conn, message.id, delivery.recipient_code)
        if last is not None:
            return
        packet = status_message(
            sender=Organization(organ_id=delivery.resolved_code),
            document=ResponseFor(organ_id=message.sender, document_id=message.document_id),
            code=StatusCode.ARRIVED,
            description="Đã đến (cổng trục xác nhận khi hệ thống nhận tải về)",
        )
        await self.emit_status(packet)

    async def emit_status(self, packet: StatusMessage) -> Receipt | None:
        """Sign a status packet with the node key and submit it through intake; a refusal
        (e.g. the state already moved on) is logged, not raised."""
        if self.node is None:
            return None
        raw = await asyncio.to_thread(self.node.sign_packet, build(packet))
        try:
            return await self.intake.accept(raw, NODE_CALLER, via="node", internal=True)
        except GatewayError as exc:
            log.warning("node status refused", code=exc.code, detail=exc.detail)
            return None

    async def on_parked(self, delivery: Any) -> None:
        """Record that a delivery was parked (audit record and log); the sender sees it in
        the trace (state ``parked``, ``last_error``)."""
        async with transaction(self.engine) as conn:
            message = await repo.get_message(conn, delivery.message_id)
            await audit.append(
                conn,
                event="parked",
                actor="worker",
                message_id=delivery.message_id,
                agency=delivery.resolved_code,
                outcome="parked",
                detail={"delivery_id": delivery.id, "error": delivery.last_error},
            )
        log.warning(
            "delivery parked",
            delivery_id=delivery.id,
            kind=message.kind if message else None,
            error=delivery.last_error,
        )

    async def trace(self, caller: Caller, message_id: str) -> Trace:
        """Return per-recipient delivery state, status history and path of a message."""
        message, deliveries = await self._visible(caller, message_id)
        async with read(self.reader) as conn:
            return await load_trace(conn, message, deliveries)

    async def onward_hops(self, message_id: str, caller: Caller | None = None) -> tuple[Hop, ...]:
        """The path to send on with a message: the hops it came with, then this node's.
        ``caller``: the door's caller, who must see the message; ``None``: this node's
        own transports."""
        if caller is not None:
            message, _ = await self._visible(caller, message_id)
        async with read(self.reader) as conn:
            if caller is None:
                message = await repo.get_message(conn, message_id)
                if message is None:
                    raise NotFound(message_id)
            path = await stored_path(conn, message_id)
        return onward(path, self.intake.node_code, message.accepted_at)

    async def sent(
        self, caller: Caller, *, after: str | None = None, limit: int = 100
    ) -> list[SentItem]:
        """Return the messages the caller's agencies sent, newest first, each with the
        delivery state and latest status of every recipient (three queries in all)."""
        agencies: Iterable[str] = self.agencies_of(caller)
        async with read(self.reader) as conn:
            rows = await repo.sent_messages(conn, list(agencies), after=after, limit=limit)
            ids = [r.id for r in rows]
            deliveries = await deliveries_by_message(conn, ids)
            statuses = await latest_statuses(conn, ids)
        return [
            SentItem(
                message_id=r.id,
                kind=r.kind,
                sender=r.sender,
                document_id=r.document_id,
                accepted_at=r.accepted_at,
                status_code=r.status_code,
                recipients=tuple(_recipient_state(d, statuses[r.id]) for d in deliveries[r.id]),
            )
            for r in rows
        ]


async def load_trace(conn: Any, message: Any, deliveries: Sequence[Any]) -> Trace:
    """Build the trace of a stored message (its row and delivery rows) on ``conn``; the
    caller decides who may see it (``Gateway.trace``; the operator's CLI)."""
    history = await repo.status_history(conn, message.id)
    reports = await attachment_reports(conn, [message.id])
    stone = await get_tombstone(conn, message.id)
    path = await stored_path(conn, message.id)
    latest = {s.recipient_code: f"{s.status_code:02d}" for s in history}
    summary = MessageSummary(
        id=message.id,
        kind=message.kind,
        sender=message.sender,
        document_id=message.document_id,
        content_sha256=message.content_sha256,
        accepted_at=message.accepted_at,
        legal_receipt_at=message.legal_receipt_at,
        signature_status=message.signature_status,
        status_code=message.status_code,
        business_doc_type=message.business_doc_type,
        related_message_id=message.related_message_id,
        attachments=tuple(reports.get(message.id, [])),
        taken_down=stone.as_dict() if stone is not None else None,
    )
    return Trace(
        summary,
        tuple(_recipient_state(d, latest) for d in deliveries),
        tuple(
            StatusEntry(s.recipient_code, f"{s.status_code:02d}", s.status_message_id, s.at)
            for s in history
        ),
        path,
    )


def _recipient_state(delivery: Any, latest: dict[str, str]) -> RecipientState:
    """The view of one delivery, with the latest status its recipient reported."""
    return RecipientState(
        delivery_id=delivery.id,
        recipient_code=delivery.recipient_code,
        resolved_code=delivery.resolved_code,
        endpoint=delivery.endpoint_kind,
        state=delivery.state,
        attempts=delivery.attempts,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
        acked_at=delivery.acked_at,
        status_code=latest.get(delivery.resolved_code) or latest.get(delivery.recipient_code),
    )
