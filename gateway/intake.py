"""Intake pipeline: DESIGN steps 2–9 for one packet, from bytes to a stored, published message.

parse → schema → signature (caller's policy) → rules and attachments (these in a worker
process, ``gateway.intake_checks``) → authorize (the caller speaks for ``From``) → resolve
(every recipient through the directory) → store (one transaction holds the message, one
delivery per recipient, status history and audit record; packets accepted concurrently
share that transaction, ``gateway.store.group_commit``, and each caller is answered only
after it commits) → publish (publisher confirms, then ``mark_published``; on failure the
outbox sweep publishes later). Each stage is timed into ``metrics.INTAKE_STAGE_SECONDS``.
A refusal writes only an audit record, in its own transaction, and is raised to the adapter.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from cryptography import x509
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from edxml.errors import EdxmlError
from edxml.model import BusinessDocType, Envelope, StatusMessage
from gateway import audit, metrics, statuses
from gateway.access import Access
from gateway.auth import Caller
from gateway.broker import DeliveryTask
from gateway.calendar import OfficeCalendar
from gateway.directory import Directory
from gateway.errors import (
    DuplicateMessage,
    GatewayError,
    PayloadTooLarge,
    StoreError,
)
from gateway.intake_checks import Checked, CheckPool, run_checks
from gateway.receipts import Receipt
from gateway.refusal_audit import mark_audited
from gateway.store import bulk
from gateway.store import repository as repo
from gateway.store.blobs import BlobStore
from gateway.store.database import transaction
from gateway.store.group_commit import REQUEUE, GroupCommit

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Target:
    recipient_code: str
    resolved_code: str
    endpoint_kind: str
    endpoint_url: str | None


@dataclass(frozen=True)
class _StoreRequest:
    """One checked packet waiting for its place in a shared store transaction."""

    raw: bytes
    packet: Envelope | StatusMessage
    checked: Checked
    caller: Caller
    sha: str
    blob_key: str
    now: datetime
    targets: list[_Target] | None

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
class _Planned:
    """Everything one accepted packet writes, and what its caller is answered."""

    receipt: Receipt
    message: repo.NewMessage
    deliveries: list[repo.NewDelivery]
    statuses: list[dict[str, Any]]
    event: audit.Event


@dataclass
class _Writes:
    """Rows of planned packets not written yet; written together by :meth:`flush`."""

    planned: list[_Planned] = field(default_factory=list)

    async def flush(self, conn: AsyncConnection) -> None:
        """Write the pending rows: messages, deliveries, statuses, audit records."""
        if not self.planned:
            return
        batch, self.planned = self.planned, []
        await bulk.insert_messages(conn, [(p.message, p.deliveries) for p in batch])
        await bulk.add_statuses(conn, [row for p in batch for row in p.statuses])
        await audit.append_many(conn, [p.event for p in batch])


Stored = tuple[Receipt, list[str]] | Receipt


class Intake:
    """Accepts packets for the core; one instance per process, shared by all adapters."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        blobs: BlobStore,
        broker: Any,
        directory: Directory,
        calendar: OfficeCalendar,
        trust_anchors: Sequence[x509.Certificate],
        max_bytes: int,
        node_code: str | None = None,
        clock: Callable[[], datetime] | None = None,
        check_workers: int | None = None,
        access: Access | None = None,
    ) -> None:
        """``check_workers``: processes for the edXML checks (``None``: one per core but
        one; ``0``: inline, on the event loop)."""
        self.engine = engine
        self.blobs = blobs
        self.broker = broker
        self.directory = directory
        self.calendar = calendar
        self.trust_anchors = tuple(trust_anchors)
        self.max_bytes = max_bytes
        self.node_code = node_code
        self.clock = clock or (lambda: datetime.now(UTC))
        self.access = access or Access(directory)
        self._checks = CheckPool(self.trust_anchors, check_workers)
        self._writer: GroupCommit[_StoreRequest, Stored] = GroupCommit(engine, self._store_batch)
        self._marker: GroupCommit[list[str], int] = GroupCommit(engine, _mark_published)

    async def accept(
        self, raw: bytes, caller: Caller, *, via: str = "rest", internal: bool = False
    ) -> Receipt:
        """Accept one packet for ``caller``; return its receipt or raise the refusal.

        ``internal`` marks packets the node itself produced (status 01 on an ack, failure
        notices): they skip the caller authorization.
        """
        try:
            receipt = await self._accept(raw, caller, internal=internal)
        except (EdxmlError, GatewayError) as exc:
            metrics.REJECTIONS.labels(code=exc.code).inc()
            metrics.PACKETS_RECEIVED.labels(kind="unknown", result="rejected").inc()
            await self._audit_rejection(raw, caller, via, exc)
            raise
        result = "duplicate" if receipt.duplicate else "accepted"
        metrics.PACKETS_RECEIVED.labels(kind=receipt.kind, result=result).inc()
        return receipt

    # -- stages -------------------------------------------------------------------------

    def check(self, raw: bytes, policy: str, now: datetime) -> Checked:
        """Run the edXML stages (parse, schema, signature, rules, attachments) inline."""
        if len(raw) > self.max_bytes:
            raise PayloadTooLarge(f"{len(raw)} > {self.max_bytes} bytes")
        checked, timings = run_checks(raw, policy, self.trust_anchors, now)
        _observe(timings)
        return checked

    async def check_async(self, raw: bytes, policy: str, now: datetime) -> Checked:
        """Like :meth:`check`, in a worker process (see ``gateway.intake_checks``)."""
        if len(raw) > self.max_bytes:
            raise PayloadTooLarge(f"{len(raw)} > {self.max_bytes} bytes")
        checked, timings = await self._checks.check(raw, policy, now)
        _observe(timings)
        return checked

    def authorize(self, packet: Envelope | StatusMessage, caller: Caller) -> None:
        """Raise unless the caller may speak for the packet's sender and that sender may
        send now (see ``gateway.access``)."""
        self.access.check_sender(caller, packet.sender)

    def resolve(self, codes: Sequence[str]) -> list[_Target]:
        """Resolve each recipient code to its live agency and endpoint (or raise)."""
        targets = []
        for code in codes:
            resolution = self.directory.resolve(code)
            endpoint = resolution.agency.endpoint
            targets.append(_Target(code, resolution.agency.code, endpoint.kind, endpoint.url))
        return targets

    async def _accept(self, raw: bytes, caller: Caller, *, internal: bool) -> Receipt:
        if not internal:
            self.access.check_intake_open()
        now = self.clock()
        checked = await self.check_async(raw, "off" if internal else caller.policy, now)
        packet = checked.packet
        if not internal:
            with metrics.stage_timer("authorize"):
                self.authorize(packet, caller)
        sha = hashlib.sha256(raw).hexdigest()
        targets: list[_Target] | None = None
        if isinstance(packet, Envelope):
            with metrics.stage_timer("resolve"):
                targets = self.resolve(packet.recipients)
        with metrics.stage_timer("store"):
            blob_key = await self.blobs.put(raw)  # content-addressed: a duplicate rewrites nothing
            request = _StoreRequest(raw, packet, checked, caller, sha, blob_key, now, targets)
            try:
                stored = await self._writer.submit(request)
            except DuplicateMessage:  # the same packet committed concurrently elsewhere
                stored = await self._writer.submit(request)
        if isinstance(stored, Receipt):
            return stored  # duplicate: the original receipt, nothing new
        receipt, delivery_ids = stored
        now_at = self.clock()
        for code in (*(r["resolved_code"] for r in receipt.recipients), packet.sender):
            self.directory.record_activity(code, now_at)
        return await self._publish(receipt, delivery_ids)

    async def _store_batch(
        self, conn: AsyncConnection, requests: Sequence[_StoreRequest]
    ) -> list[Any]:
        """Store a batch of packets in the caller's transaction; one outcome per request.

        Duplicates are looked up in one query; rows are written in a few multi-row
        statements, flushed early only before a packet whose planning reads earlier rows,
        so that it sees every packet ahead of it. A refusal of one packet (status
        transition, unknown document) is its outcome; nothing of it was written.
        """
        found = await bulk.find_duplicates(conn, {r.key for r in requests})
        writes = _Writes()
        taken: set[bulk.DuplicateKey] = set()
        outcomes: list[Any] = []
        for request in requests:
            if request.key in found:
                outcomes.append(await self._duplicate_receipt(conn, found[request.key]))
                continue
            if request.key in taken:  # a second copy within this batch: answer it next time
                outcomes.append(REQUEUE)
                continue
            if request.needs_reads:
                await writes.flush(conn)
            try:
                planned = await self._plan(conn, request)
            except StoreError:
                raise
            except (EdxmlError, GatewayError) as exc:
                outcomes.append(exc)
                continue
            writes.planned.append(planned)
            taken.add(request.key)
            outcomes.append((planned.receipt, [d.id for d in planned.deliveries]))
        await writes.flush(conn)
        return outcomes

    async def _plan(self, conn: AsyncConnection, request: _StoreRequest) -> _Planned:
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
                targets = self.resolve(plan.route_to)
            related_id = plan.document.id
            record_for, record_doc = plan.record_for, plan.document.id
            code = int(packet.status_code)
        else:
            assert targets is not None
            business = await statuses.plan_business(conn, packet)
            doc_type = packet.business.doc_type if packet.business else None
            if business.related is not None:
                related_id = business.related.id
            if business.record_recall_for:
                record_for, record_doc = business.record_recall_for, business.related.id
                code = statuses.RECALL_REQUEST
        deliveries = [
            repo.NewDelivery(t.recipient_code, t.resolved_code, t.endpoint_kind, t.endpoint_url)
            for t in targets
        ]
        verdict = checked.verification
        receipt = Receipt(
            message_id=message_id,
            kind=packet.kind,
            document_id=packet.document_id or "",
            sender=packet.sender,
            content_sha256=request.sha,
            accepted_at=now,
            legal_receipt_at=self.calendar.legal_receipt_time(now),
            signature={
                "status": verdict.status,
                "signer": verdict.signer,
                "algorithm": verdict.algorithm,
            },
            recipients=tuple(
                {
                    "code": t.recipient_code,
                    "resolved_code": t.resolved_code,
                    "endpoint": t.endpoint_kind,
                    "delivery_id": d.id,
                    "state": "pending",
                }
                for t, d in zip(targets, deliveries, strict=True)
            ),
            warnings=checked.warnings,
            node=self.node_code,
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
        return _Planned(receipt, message, deliveries, status_rows, event)

    async def _publish(self, receipt: Receipt, delivery_ids: list[str]) -> Receipt:
        tasks = [DeliveryTask(delivery_id=i, message_id=receipt.message_id) for i in delivery_ids]
        try:
            with metrics.stage_timer("publish"):
                await self.broker.publish(tasks)
        except GatewayError as exc:
            # Stored is accepted: the outbox sweep publishes these deliveries later.
            log.warning("publish deferred to outbox", message_id=receipt.message_id, error=str(exc))
            return receipt
        self._marker.enqueue(delivery_ids).add_done_callback(_log_mark_failure)
        return receipt.with_states({r["code"]: "published" for r in receipt.recipients})

    async def flush(self) -> None:
        """Wait until every confirmed publish so far is marked in the store."""
        await self._marker.flush()

    async def close(self) -> None:
        """Answer queued store requests, flush pending marks, stop the background writers."""
        await self._writer.close()
        await self._marker.close()

    async def _duplicate_receipt(self, conn: Any, dup: repo.MessageRow) -> Receipt:
        original = Receipt.from_dict(json.loads(dup.receipt_json))
        states = {d.recipient_code: d.state for d in await repo.deliveries_for(conn, dup.id)}
        return original.with_states(states, duplicate=True)

    async def _audit_rejection(
        self, raw: bytes, caller: Caller, via: str, exc: EdxmlError | GatewayError
    ) -> None:
        mark_audited()
        try:
            async with transaction(self.engine) as conn:
                await audit.append(
                    conn,
                    event="rejected",
                    actor=caller.system_id,
                    outcome=exc.code,
                    detail={
                        "via": via,
                        "path": exc.path,
                        "message_en": exc.text_en,
                        "sha256": hashlib.sha256(raw).hexdigest(),
                        "size": len(raw),
                    },
                )
        except GatewayError as store_exc:
            log.error("cannot audit a rejection", code=exc.code, error=str(store_exc))


def _observe(timings: dict[str, float]) -> None:
    for stage, seconds in timings.items():
        metrics.INTAKE_STAGE_SECONDS.labels(stage=stage).observe(seconds)


async def _mark_published(conn: AsyncConnection, batches: Sequence[list[str]]) -> list[int]:
    """Mark the deliveries RabbitMQ confirmed as ``published``, all batches at once.

    A mark lost in a crash only means the outbox sweep publishes again; delivery is
    idempotent by delivery id.
    """
    await repo.mark_published(conn, [i for ids in batches for i in ids])
    return [len(ids) for ids in batches]


def _log_mark_failure(future: asyncio.Future[int]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("mark_published failed; outbox will republish", error=str(future.exception()))
