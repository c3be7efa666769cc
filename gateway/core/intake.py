"""Intake pipeline: DESIGN steps 2–9 for one packet, from bytes to a stored, published message.

parse → schema → signature (caller's policy) → rules and attachments (these in a worker
process, ``gateway.core.intake_checks``) → authorize (the caller speaks for ``From``) → resolve
(every recipient through the directory) → store (one transaction holds the message, one
delivery per recipient, status history and audit record; packets accepted concurrently
share that transaction, ``gateway.store.group_commit``, and each caller is answered only
after it commits) → publish (publisher confirms, then ``mark_published``; on failure the
outbox sweep publishes later; a mailbox delivery is visible from the commit and is not
published at all). Each stage is timed into ``metrics.INTAKE_STAGE_SECONDS``.
Before all of it: admission (``gateway.core.admission``, a bounded number of documents in
flight) and the duplicate known by its hash (``gateway.core.intake_duplicates``). A refusal
writes only an audit record, batched with other writes (``gateway.audit.batch``), and is
raised to the adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from cryptography import x509
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from edxml.errors import EdxmlError
from edxml.model import Envelope, StatusMessage
from gateway.audit import batch as audit_batch
from gateway.audit import chain as audit
from gateway.audit.refusals import mark_audited
from gateway.core.access import Access
from gateway.core.admission import Admission, claims_urgent
from gateway.core.calendar import OfficeCalendar
from gateway.core.hops import check_path
from gateway.core.intake_checks import LARGE_PACKET_BYTES, Checked, CheckPool, run_checks
from gateway.core.intake_duplicates import RecentDigests, duplicate_receipts
from gateway.core.intake_plan import StoreRequest, Target, Writes, packet_priority, plan_packet
from gateway.core.receipts import Receipt
from gateway.core.views import Hop
from gateway.credentials.auth import Caller
from gateway.delivery.broker import DeliveryTask
from gateway.errors import (
    DuplicateMessage,
    GatewayError,
    Overloaded,
    PayloadTooLarge,
    StoreError,
)
from gateway.legal.wiring import apply_review
from gateway.ops import metrics
from gateway.ports import BlobStore, Directory, Publisher
from gateway.store import bulk
from gateway.store import repository as repo
from gateway.store.group_commit import REQUEUE, GroupCommit

log = structlog.get_logger(__name__)


Stored = tuple[Receipt, list[str]] | Receipt
DUPLICATE_ATTEMPTS = 3


class Intake:
    """Accepts packets for the core; one instance per process, shared by all adapters."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        blobs: BlobStore,
        broker: Publisher,
        directory: Directory,
        calendar: OfficeCalendar,
        trust_anchors: Sequence[x509.Certificate],
        max_bytes: int,
        node_code: str | None = None,
        clock: Callable[[], datetime] | None = None,
        check_workers: int | None = None,
        admission: Admission | None = None,
        access: Access | None = None,
        legal: Any = None,
        large_packet_bytes: int = LARGE_PACKET_BYTES,
    ) -> None:
        """``check_workers``: processes for the edXML checks (``None``: one per core but
        one; ``0``: inline, on the event loop). ``admission``: the bounds of documents in
        flight (default ``gateway.core.admission.Limits()``); ``large_packet_bytes``: the size from
        which a packet is checked on the large-packet lane."""
        self.engine = engine
        self.blobs = blobs
        self.broker = broker
        self.directory = directory
        self.calendar = calendar
        self.trust_anchors = tuple(trust_anchors)
        self.max_bytes = max_bytes
        self.node_code = node_code
        self.clock = clock or (lambda: datetime.now(UTC))
        self.admission = admission or Admission()
        self.access = access or Access(directory)
        self.legal = legal  # gateway.legal.review.LegalReview: malware, PDF signatures, signer
        self._checks = CheckPool(self.trust_anchors, check_workers, large_bytes=large_packet_bytes)
        self._writer: GroupCommit[StoreRequest, Stored] = GroupCommit(engine, self._store_batch)
        self._marker: GroupCommit[list[str], int] = GroupCommit(engine, _mark_published)
        self._recent = RecentDigests()
        self._blobs_in_batch = bool(getattr(blobs, "transactional", False))
        self._duplicates: GroupCommit[str, Receipt | None] = GroupCommit(engine, duplicate_receipts)

    async def accept(
        self,
        raw: bytes,
        caller: Caller,
        *,
        via: str = "rest",
        internal: bool = False,
        hops: Sequence[Hop] = (),
    ) -> Receipt:
        """Accept one packet for ``caller``; return its receipt or raise the refusal.

        ``internal`` marks packets the node itself produced (status 01 on an ack, failure
        notices): they skip the caller authorization. ``hops``: the path a relaying node
        reported; one naming this node is refused (``gateway.core.hops.check_path``).
        """
        try:
            check_path(hops, self.node_code)
            if internal:
                receipt = await self._accept(raw, caller, internal=internal)
            else:
                with self.admission.admit(caller.system_id, urgent=claims_urgent(raw)):
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
        """Like :meth:`check`, in a worker process (see ``gateway.core.intake_checks``)."""
        if len(raw) > self.max_bytes:
            raise PayloadTooLarge(f"{len(raw)} > {self.max_bytes} bytes")
        scan = self.legal is not None and self.legal.scanner is not None
        checked, timings = await self._checks.check(raw, policy, now, scan=scan)
        _observe(timings)
        return checked

    def authorize(self, packet: Envelope | StatusMessage, caller: Caller) -> None:
        """Raise unless the caller may speak for the packet's sender and that sender may
        send now (see ``gateway.core.access``)."""
        self.access.check_sender(caller, packet.sender)

    def resolve(self, codes: Sequence[str]) -> list[Target]:
        """Resolve each recipient code to its live agency and endpoint (or raise)."""
        targets = []
        for code in codes:
            resolution = self.directory.resolve(code)
            endpoint = resolution.agency.endpoint
            targets.append(Target(code, resolution.agency.code, endpoint.kind, endpoint.url))
        return targets

    def original_of(self, system_id: str, sha: str) -> str | None:
        """Return the message id that these bytes (by SHA-256) from ``system_id`` became,
        when this process accepted them recently; ``None`` otherwise."""
        return self._recent.original_of(system_id, sha)

    async def _accept(self, raw: bytes, caller: Caller, *, internal: bool) -> Receipt:
        if not internal:
            self.access.check_intake_open()
        sha = hashlib.sha256(raw).hexdigest()
        original = None if internal else self.original_of(caller.system_id, sha)
        if original is not None:  # a duplicate, known by its hash: not checked again
            known = await self._duplicates.submit(original)
            if known is not None:
                return known
        now = self.clock()
        checked = await self.check_async(raw, "off" if internal else caller.policy, now)
        packet = checked.packet
        if not internal:
            with metrics.stage_timer("authorize"):
                self.authorize(packet, caller)
            if self.legal is not None:
                with metrics.stage_timer("legal"):
                    checked = await apply_review(
                        self.legal, raw, checked, caller.system_id, self.directory
                    )
        targets: list[Target] | None = None
        if isinstance(packet, Envelope):
            with metrics.stage_timer("resolve"):
                targets = self.resolve(packet.recipients)
            if not internal:
                self.access.check_recipients(
                    packet.sender, [(t.recipient_code, t.resolved_code) for t in targets]
                )
        with metrics.stage_timer("blob"):
            # Content-addressed: a duplicate rewrites nothing. A database blob store takes
            # the bytes inside the store batch's transaction (``Writes.flush``).
            blob_key = sha if self._blobs_in_batch else await self.blobs.put(raw, sha)
        with metrics.stage_timer("store"):
            request = StoreRequest(raw, packet, checked, caller, sha, blob_key, now, targets)
            stored = await self._store_once(request)
        if isinstance(stored, Receipt):
            self._recent.remember(caller.system_id, sha, stored.message_id)
            return stored  # duplicate: the original receipt, nothing new
        receipt, delivery_ids = stored
        self._recent.remember(caller.system_id, sha, receipt.message_id)
        now_at = self.clock()
        for code in (*(r["resolved_code"] for r in receipt.recipients), packet.sender):
            self.directory.record_activity(code, now_at)
        return await self._publish(receipt, delivery_ids, packet_priority(packet), caller.system_id)

    async def _store_once(self, request: StoreRequest) -> Stored:
        """Store one packet; a duplicate is answered with the original receipt.

        The one decision about a duplicate for every door: the same packet (sender,
        DocumentId, content hash, kind) committed concurrently by another process makes
        the insert fail (``DuplicateMessage``); the next attempt finds it and answers its
        receipt. Only a packet still racing after the last attempt is refused.
        """
        for _ in range(DUPLICATE_ATTEMPTS - 1):
            with contextlib.suppress(DuplicateMessage):
                return await self._writer.submit(request)
        return await self._writer.submit(request)

    async def _store_batch(
        self, conn: AsyncConnection, requests: Sequence[StoreRequest]
    ) -> list[Any]:
        """Store a batch of packets in the caller's transaction; one outcome per request.

        Duplicates are looked up in one query; rows are written in a few multi-row
        statements, flushed early only before a packet whose planning reads earlier rows,
        so that it sees every packet ahead of it. A refusal of one packet (status
        transition, unknown document) is its outcome; nothing of it was written.
        """
        found = await bulk.find_duplicates(conn, {r.key for r in requests})
        writes = Writes(blob_store=self.blobs if self._blobs_in_batch else None)
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
                planned = await plan_packet(
                    conn,
                    request,
                    resolve=self.resolve,
                    calendar=self.calendar,
                    node_code=self.node_code,
                )
            except StoreError:
                raise
            except (EdxmlError, GatewayError) as exc:
                outcomes.append(exc)
                continue
            writes.planned.append(planned)
            if self._blobs_in_batch:
                writes.blobs[request.sha] = request.raw
            taken.add(request.key)
            outcomes.append((planned.receipt, planned.to_publish))
        await writes.flush(conn)
        return outcomes

    async def _publish(
        self, receipt: Receipt, delivery_ids: list[str], priority: int = 0, sender: str = ""
    ) -> Receipt:
        mailboxes = sum(1 for r in receipt.recipients if r["endpoint"] == "mailbox")
        if mailboxes:  # delivered by the store commit itself (gateway.core.intake_plan.Writes)
            metrics.DELIVERIES.labels(transport="mailbox", result="delivered").inc(mailboxes)
        if not delivery_ids:
            return receipt
        # The sending calling system picks the shard of the lane (gateway.delivery.topology).
        tasks = [
            DeliveryTask(i, receipt.message_id, priority=priority, sender=sender)
            for i in delivery_ids
        ]
        try:
            with metrics.stage_timer("publish"):
                await self.broker.publish(tasks)
        except GatewayError as exc:
            # Stored is accepted: the outbox sweep publishes these deliveries later.
            log.warning("publish deferred to outbox", message_id=receipt.message_id, error=str(exc))
            return receipt
        self._marker.enqueue(delivery_ids).add_done_callback(_log_mark_failure)
        published = set(delivery_ids)
        return receipt.with_states(
            {r["code"]: "published" for r in receipt.recipients if r["delivery_id"] in published}
        )

    async def flush(self) -> None:
        """Wait until every confirmed publish so far is marked in the store."""
        await self._marker.flush()

    async def close(self) -> None:
        """Answer queued store requests, flush pending marks, stop the background writers."""
        await self._writer.close()
        await self._marker.close()
        await self._duplicates.close()
        await audit_batch.flush(self.engine)

    async def _duplicate_receipt(self, conn: Any, dup: repo.MessageRow) -> Receipt:
        original = Receipt.from_dict(json.loads(dup.receipt_json))
        states = {d.recipient_code: d.state for d in await repo.deliveries_for(conn, dup.id)}
        return original.with_states(states, duplicate=True)

    async def _audit_rejection(
        self, raw: bytes, caller: Caller, via: str, exc: EdxmlError | GatewayError
    ) -> None:
        mark_audited(exc)  # the door answering ``exc`` must not write a second record
        event = audit.Event(
            "rejected",
            actor=caller.system_id,
            outcome=exc.code,
            detail={
                "door": via,
                "via": via,
                "remote": caller.remote,
                "path": exc.path,
                "message_en": exc.text_en,
                "sha256": hashlib.sha256(raw).hexdigest(),
                "size": len(raw),
            },
        )
        if isinstance(exc, Overloaded):  # answer at once; the record commits with the next batch
            audit_batch.record_soon(self.engine, event)
            return
        try:
            await audit_batch.record(self.engine, event)
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
