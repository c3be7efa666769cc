"""What one checked packet writes to the store: the plan made inside the store batch.

:func:`plan_packet` reads what it needs (earlier statuses, the document a recall or an
update names), resolves status recipients, and returns the rows (message, deliveries,
statuses) and the audit event of one accepted packet, plus the receipt its caller gets;
:class:`Writes` holds the planned rows of a batch until they are written together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from edxml.model import BusinessDocType, Envelope, StatusMessage
from gateway.audit import chain as audit
from gateway.core import statuses
from gateway.core.calendar import OfficeCalendar
from gateway.core.intake_checks import Checked
from gateway.core.receipts import Receipt
from gateway.credentials.auth import Caller
from gateway.ops import metrics
from gateway.store import bulk
from gateway.store import repository as repo


@dataclass(frozen=True)
class Target:
    """One recipient resolved to its live agency and that agency's endpoint."""

    recipient_code: str
    resolved_code: str
    endpoint_kind: str
    endpoint_url: str | None


@dataclass(frozen=True)
class StoreRequest:
    """One checked packet waiting for its place in a shared store transaction."""

    raw: bytes
    packet: Envelope | StatusMessage
    checked: Checked
    caller: Caller
    sha: str
    blob_key: str
    now: datetime
    targets: list[Target] | None

    @property
    def key(self) -> bulk.DuplicateKey:
        """The duplicate key: sender, DocumentId, content hash, kind."""
        p = self.packet
        return (p.sender, p.document_id or "", self.sha, p.kind)

    @property
    def needs_reads(self) -> bool:
        """Whether planning reads earlier rows (statuses, recall/update/replace links)."""
        if isinstance(self.packet, StatusMessage):
            return True
        business = self.packet.business
        return business is not None and business.doc_type != BusinessDocType.NEW


@dataclass
class Planned:
    """Everything one accepted packet writes, and what its caller is answered."""

    receipt: Receipt
    message: repo.NewMessage
    deliveries: list[repo.NewDelivery]
    statuses: list[dict[str, Any]]
    event: audit.Event

    @property
    def to_publish(self) -> list[str]:
        """Ids of the deliveries that go through RabbitMQ (every endpoint but a mailbox)."""
        return [d.id for d in self.deliveries if d.endpoint_kind != MAILBOX]


@dataclass
class Writes:
    """Rows of planned packets not written yet; written together by :meth:`flush`."""

    planned: list[Planned] = field(default_factory=list)
    # Packet bytes by key, written here when the blob store lives in the database.
    blobs: dict[str, bytes] = field(default_factory=dict)
    blob_store: Any = None

    async def flush(self, conn: AsyncConnection) -> None:
        """Write the pending rows: blobs, messages, deliveries, statuses, audit records."""
        if not self.planned:
            return
        batch, self.planned = self.planned, []
        if self.blob_store is not None:
            pending, self.blobs = self.blobs, {}
            await self.blob_store.put_many_in(conn, pending)
        await bulk.insert_messages(conn, [(p.message, p.deliveries) for p in batch])
        # A mailbox sends nothing: its delivery is visible in the inbox from this very
        # commit, with no task through RabbitMQ and no later writer cycle to mark it.
        mailbox = [d.id for p in batch for d in p.deliveries if d.endpoint_kind == MAILBOX]
        await bulk.mark_delivered_many(conn, mailbox)
        await bulk.add_statuses(conn, [row for p in batch for row in p.statuses])
        await audit.append_many(conn, [p.event for p in batch])


Resolve = Callable[[Sequence[str]], list[Target]]
MAILBOX = "mailbox"


async def plan_packet(
    conn: AsyncConnection,
    request: StoreRequest,
    *,
    resolve: Resolve,
    calendar: OfficeCalendar,
    node_code: str | None,
) -> Planned:
    """Decide what one packet writes (reading the store only); raise its refusal."""
    packet, checked, now, targets = (
        request.packet,
        request.checked,
        request.now,
        request.targets,
    )
    message_id = repo.new_id()
    related_id: str | None = None
    record_for: tuple[str, ...] = ()
    record_doc: str | None = None
    code: int | None = None
    doc_type: int | None = None
    if isinstance(packet, StatusMessage):
        plan = await statuses.plan_status(conn, packet)
        with metrics.stage_timer("resolve"):
            targets = resolve(plan.route_to)
        related_id = plan.document.id
        record_for, record_doc = plan.record_for, plan.document.id
        code = int(packet.status_code)
    else:
        assert targets is not None
        business = await statuses.plan_business(conn, packet)
        doc_type = packet.business.doc_type if packet.business else None
        if business.related is not None:
            related_id = business.related.id
        if business.record_recall_for and related_id is not None:
            record_for, record_doc = business.record_recall_for, related_id
            code = statuses.RECALL_REQUEST
    deliveries = [
        repo.NewDelivery(t.recipient_code, t.resolved_code, t.endpoint_kind, t.endpoint_url)
        for t in targets
    ]
    verdict = checked.verification
    legal = checked.legal
    receipt = Receipt(
        message_id=message_id,
        kind=packet.kind,
        document_id=packet.document_id or "",
        sender=packet.sender,
        content_sha256=request.sha,
        accepted_at=now,
        legal_receipt_at=calendar.legal_receipt_time(now),
        signature={
            "status": verdict.status,
            "signer": verdict.signer,
            "algorithm": verdict.algorithm,
            **({"revocation": legal.signer_revocation} if legal is not None else {}),
        },
        attachments=legal.attachments if legal is not None else (),
        recipients=tuple(
            {
                "code": t.recipient_code,
                "resolved_code": t.resolved_code,
                "endpoint": t.endpoint_kind,
                "delivery_id": d.id,
                "state": "delivered" if t.endpoint_kind == MAILBOX else "pending",
            }
            for t, d in zip(targets, deliveries, strict=True)
        ),
        warnings=checked.warnings,
        node=node_code,
        related_message_id=related_id,
    )
    message = repo.NewMessage(
        id=message_id,
        kind=packet.kind,
        sender=packet.sender,
        document_id=packet.document_id or "",
        content_sha256=request.sha,
        blob_key=request.blob_key,
        size=len(request.raw),
        caller_system=request.caller.system_id,
        accepted_at=now,
        legal_receipt_at=receipt.legal_receipt_at,
        signature_status=verdict.status,
        signer=verdict.signer,
        algorithm=verdict.algorithm,
        business_doc_type=doc_type,
        related_message_id=related_id,
        status_code=int(packet.status_code) if isinstance(packet, StatusMessage) else None,
        receipt_json=json.dumps(receipt.as_dict(), ensure_ascii=False),
        priority=packet_priority(packet),
    )
    status_rows = (
        [
            {
                "document_message_id": record_doc,
                "recipient_code": recipient,
                "status_code": code,
                "status_message_id": message_id,
                "at": now,
            }
            for recipient in record_for
        ]
        if record_doc is not None and code is not None
        else []
    )
    event = audit.Event(
        "received",
        actor=request.caller.system_id,
        message_id=message_id,
        agency=packet.sender,
        detail={
            "kind": packet.kind,
            "document_id": packet.document_id,
            "sha256": request.sha,
            "size": len(request.raw),
            "signature": verdict.status,
            "recipients": [t.resolved_code for t in targets],
            "status_code": code,
        },
    )
    return Planned(receipt, message, deliveries, status_rows, event)


def packet_priority(packet: Envelope | StatusMessage) -> int:
    """The ``OtherInfo/Priority`` of a document (0 when absent; statuses are not urgent)."""
    if isinstance(packet, Envelope) and packet.header.other_info is not None:
        return int(packet.header.other_info.priority or 0)
    return 0
