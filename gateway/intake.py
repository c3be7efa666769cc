"""Intake pipeline: DESIGN steps 2–9 for one packet, from bytes to a stored, published message.

parse → schema → signature (caller's policy) → rules and attachments → authorize (the
caller speaks for ``From``) → resolve (every recipient through the directory) → store (one
transaction: message, one delivery per recipient, status history, audit record) → publish
(publisher confirms, then ``mark_published``; on failure the outbox sweep publishes later).
Each stage is timed into ``metrics.INTAKE_STAGE_SECONDS``. A refusal writes only an audit
record, in its own transaction, and is raised to the adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from cryptography import x509
from sqlalchemy.ext.asyncio import AsyncEngine

from edxml.errors import EdxmlError
from edxml.model import Envelope, StatusMessage
from edxml.pipeline import (
    stage_attachments,
    stage_parse,
    stage_rules,
    stage_schema,
    stage_verify,
)
from edxml.signature import Verification
from gateway import audit, metrics, statuses
from gateway.auth import Caller
from gateway.broker import DeliveryTask
from gateway.calendar import VIETNAM, OfficeCalendar
from gateway.directory import Directory
from gateway.errors import (
    DuplicateMessage,
    GatewayError,
    PayloadTooLarge,
    SenderNotAllowed,
)
from gateway.receipts import Receipt
from gateway.refusal_audit import mark_audited
from gateway.store import repository as repo
from gateway.store.blobs import BlobStore
from gateway.store.database import transaction

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Checked:
    """A packet that passed the edXML stages: model, signature verdict, warnings."""

    packet: Envelope | StatusMessage
    verification: Verification
    warnings: tuple[dict[str, str], ...]


@dataclass(frozen=True)
class _Target:
    recipient_code: str
    resolved_code: str
    endpoint_kind: str
    endpoint_url: str | None


class _PublishedMarker:
    """Marks confirmed deliveries ``published`` in batches, off the request path: one
    transaction for all receipts confirmed meanwhile. A mark lost in a crash only means
    the outbox sweep publishes again; delivery is idempotent by delivery id."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def add(self, ids: Sequence[str]) -> None:
        self._pending.extend(ids)
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                batch, self._pending = self._pending, []
                try:
                    async with transaction(self._engine) as conn:
                        await repo.mark_published(conn, batch)
                except Exception as exc:  # never die: the outbox sweep covers lost marks
                    log.warning("mark_published failed; outbox will republish", error=str(exc))
                if not self._pending:
                    self._idle.set()
        finally:
            self._idle.set()

    async def flush(self) -> None:
        if self._task is not None and not self._task.done():
            await self._idle.wait()

    async def close(self) -> None:
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout=10)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


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
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.broker = broker
        self.directory = directory
        self.calendar = calendar
        self.trust_anchors = tuple(trust_anchors)
        self.max_bytes = max_bytes
        self.node_code = node_code
        self.clock = clock or (lambda: datetime.now(UTC))
        self._marker = _PublishedMarker(engine)

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
        """Run the edXML stages (parse, schema, signature, rules, attachments)."""
        if len(raw) > self.max_bytes:
            raise PayloadTooLarge(f"{len(raw)} > {self.max_bytes} bytes")
        with metrics.stage_timer("parse"):
            root = stage_parse(raw)
        with metrics.stage_timer("schema"):
            stage_schema(root)
        with metrics.stage_timer("signature"):
            verification = stage_verify(root, policy, self.trust_anchors, now)
            packet = verification.packet  # only the signed model is used from here on
            stage_attachments(packet)
        with metrics.stage_timer("schema"):
            found = stage_rules(packet, now.astimezone(VIETNAM).date())
        warnings = tuple(i.as_dict() for i in (*verification.warnings, *found))
        return Checked(packet, verification, warnings)

    def authorize(self, packet: Envelope | StatusMessage, caller: Caller) -> None:
        """Raise ``SenderNotAllowed`` unless the caller may speak for the packet's sender."""
        allowed = caller.agencies | self.directory.agencies_for_system(caller.system_id)
        if packet.sender.strip().upper() not in {a.upper() for a in allowed}:
            raise SenderNotAllowed(packet.sender, path="From/OrganId")

    def resolve(self, codes: Sequence[str]) -> list[_Target]:
        """Resolve each recipient code to its live agency and endpoint (or raise)."""
        targets = []
        for code in codes:
            resolution = self.directory.resolve(code)
            endpoint = resolution.agency.endpoint
            targets.append(_Target(code, resolution.agency.code, endpoint.kind, endpoint.url))
        return targets

    async def _accept(self, raw: bytes, caller: Caller, *, internal: bool) -> Receipt:
        now = self.clock()
        checked = self.check(raw, "off" if internal else caller.policy, now)
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
            try:
                stored = await self._store(
                    raw, packet, checked, caller, sha, blob_key, now, targets
                )
            except DuplicateMessage:  # the same packet committed concurrently
                stored = await self._store(
                    raw, packet, checked, caller, sha, blob_key, now, targets
                )
        if isinstance(stored, Receipt):
            return stored  # duplicate: the original receipt, nothing new
        receipt, delivery_ids = stored
        return await self._publish(receipt, delivery_ids)

    async def _store(
        self,
        raw: bytes,
        packet: Envelope | StatusMessage,
        checked: Checked,
        caller: Caller,
        sha: str,
        blob_key: str,
        now: datetime,
        targets: list[_Target] | None,
    ) -> tuple[Receipt, list[str]] | Receipt:
        """Write message, deliveries, statuses and audit in one transaction; return the
        original receipt instead when the same packet is already stored."""
        message_id = repo.new_id()
        async with transaction(self.engine) as conn:
            dup = await repo.find_duplicate(
                conn,
                sender=packet.sender,
                document_id=packet.document_id or "",
                content_sha256=sha,
                kind=packet.kind,
            )
            if dup is not None:
                return await self._duplicate_receipt(conn, dup)
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
                content_sha256=sha,
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
            await repo.insert_message(
                conn,
                repo.NewMessage(
                    id=message_id,
                    kind=packet.kind,
                    sender=packet.sender,
                    document_id=packet.document_id or "",
                    content_sha256=sha,
                    blob_key=blob_key,
                    size=len(raw),
                    caller_system=caller.system_id,
                    accepted_at=now,
                    legal_receipt_at=receipt.legal_receipt_at,
                    signature_status=verdict.status,
                    signer=verdict.signer,
                    algorithm=verdict.algorithm,
                    business_doc_type=doc_type,
                    related_message_id=related_id,
                    status_code=int(packet.status_code)
                    if isinstance(packet, StatusMessage)
                    else None,
                    receipt_json=json.dumps(receipt.as_dict(), ensure_ascii=False),
                ),
                deliveries,
            )
            if record_doc is not None and code is not None:
                await statuses.record(
                    conn,
                    document_message_id=record_doc,
                    recipients=record_for,
                    status_code=code,
                    status_message_id=message_id,
                    at=now,
                )
            await audit.append(
                conn,
                event="received",
                actor=caller.system_id,
                message_id=message_id,
                agency=packet.sender,
                detail={
                    "kind": packet.kind,
                    "document_id": packet.document_id,
                    "sha256": sha,
                    "size": len(raw),
                    "signature": verdict.status,
                    "recipients": [t.resolved_code for t in targets],
                    "status_code": code,
                },
            )
        now_at = self.clock()
        for t in targets:
            self.directory.record_activity(t.resolved_code, now_at)
        self.directory.record_activity(packet.sender, now_at)
        return receipt, [d.id for d in deliveries]

    async def _publish(self, receipt: Receipt, delivery_ids: list[str]) -> Receipt:
        tasks = [DeliveryTask(delivery_id=i, message_id=receipt.message_id) for i in delivery_ids]
        try:
            with metrics.stage_timer("publish"):
                await self.broker.publish(tasks)
        except GatewayError as exc:
            # Stored is accepted: the outbox sweep publishes these deliveries later.
            log.warning("publish deferred to outbox", message_id=receipt.message_id, error=str(exc))
            return receipt
        self._marker.add(delivery_ids)
        return receipt.with_states({r["code"]: "published" for r in receipt.recipients})

    async def flush(self) -> None:
        """Wait until every confirmed publish so far is marked in the store."""
        await self._marker.flush()

    async def close(self) -> None:
        """Flush pending marks and stop the background marker."""
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
