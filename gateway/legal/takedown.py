"""Takedown of a stored document (004 art. 24.6) and documents recalled for one recipient.

:func:`take_down` (admin only: the ``messages takedown`` command and the admin API) keeps a
tombstone (id, hashes, who, when, why), withdraws every delivery of the message (state
``withdrawn``: out of every inbox, never delivered again), writes one audit record, and then
removes the packet's bytes from the blob store. From then on :func:`gone_reason` makes the
core answer every fetch with ``MESSAGE_GONE`` (REST ``410 Gone``, VXP ``FAIL``).

A recall the recipient accepted (status 15) makes the document unfetchable for that
recipient only: the sender keeps its copy.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from gateway.audit import chain as audit
from gateway.errors import NotFound, StoreError
from gateway.legal.errors import MessageGone
from gateway.store import repository as repo
from gateway.store.base import Base
from gateway.store.database import transaction
from gateway.store.models import Delivery, Message, StatusHistory, UTCDateTime

log = structlog.get_logger(__name__)
WITHDRAWN = "withdrawn"
RECALL_ACCEPTED = 15


class TombstoneRow(Base):
    """What remains of a message that was taken down: no bytes, only the facts."""

    __tablename__ = "tombstones"

    message_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(64))
    document_id: Mapped[str] = mapped_column(String(255))
    content_sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(128))
    recipients: Mapped[str] = mapped_column(Text, default="[]")
    taken_down_by: Mapped[str] = mapped_column(String(128))
    taken_down_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class Tombstone:
    """A taken-down message: identity, hashes, who, when, why."""

    message_id: str
    kind: str
    sender: str
    document_id: str
    content_sha256: str
    recipients: tuple[str, ...]
    taken_down_by: str
    taken_down_at: datetime
    reason: str
    blob_removed: bool = True

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form (CLI, admin API, trace)."""
        return {
            "message_id": self.message_id,
            "kind": self.kind,
            "sender": self.sender,
            "document_id": self.document_id,
            "content_sha256": self.content_sha256,
            "recipients": list(self.recipients),
            "taken_down_by": self.taken_down_by,
            "taken_down_at": self.taken_down_at.isoformat(),
            "reason": self.reason,
            "blob_removed": self.blob_removed,
        }


def _tombstone(row: Any, *, blob_removed: bool = True) -> Tombstone:
    return Tombstone(
        message_id=row.message_id,
        kind=row.kind,
        sender=row.sender,
        document_id=row.document_id,
        content_sha256=row.content_sha256,
        recipients=tuple(json.loads(row.recipients or "[]")),
        taken_down_by=row.taken_down_by,
        taken_down_at=row.taken_down_at,
        reason=row.reason,
        blob_removed=blob_removed,
    )


async def get_tombstone(conn: AsyncConnection, message_id: str) -> Tombstone | None:
    """The tombstone of ``message_id``, or ``None`` when it was not taken down."""
    t = TombstoneRow.__table__.c
    row = (
        await conn.execute(select(TombstoneRow.__table__).where(t.message_id == message_id))
    ).first()
    return _tombstone(row) if row is not None else None


async def take_down(
    engine: AsyncEngine, blobs: Any, message_id: str, *, actor: str, reason: str
) -> Tombstone:
    """Take a message down (idempotent: a second call removes the bytes again if needed)."""
    if not reason.strip():
        raise ValueError("a takedown needs a reason")
    async with transaction(engine) as conn:
        existing = await get_tombstone(conn, message_id)
        message = await repo.get_message(conn, message_id)
        if message is None:
            raise NotFound(message_id)
        if existing is None:
            deliveries = await repo.deliveries_for(conn, message_id)
            recipients = sorted({d.resolved_code for d in deliveries})
            now = datetime.now(UTC)
            await conn.execute(
                TombstoneRow.__table__.insert().values(
                    message_id=message.id,
                    kind=message.kind,
                    sender=message.sender,
                    document_id=message.document_id,
                    content_sha256=message.content_sha256,
                    blob_key=message.blob_key,
                    recipients=json.dumps(recipients),
                    taken_down_by=actor,
                    taken_down_at=now,
                    reason=reason,
                )
            )
            await conn.execute(
                update(Delivery)
                .where(Delivery.message_id == message_id)
                .values(state=WITHDRAWN, updated_at=now)
            )
            await audit.append(
                conn,
                event="taken_down",
                actor=actor,
                message_id=message_id,
                agency=message.sender,
                outcome="taken_down",
                detail={
                    "reason": reason,
                    "sha256": message.content_sha256,
                    "document_id": message.document_id,
                    "recipients": recipients,
                },
            )
        stone = await get_tombstone(conn, message_id)
    assert stone is not None
    removed = await _remove_blob(blobs, message.blob_key)
    log.warning("message taken down", message_id=message_id, actor=actor, blob_removed=removed)
    return Tombstone(**{**stone.__dict__, "blob_removed": removed})


async def _remove_blob(blobs: Any, key: str) -> bool:
    delete = getattr(blobs, "delete", None)
    if delete is None:
        log.error("blob store cannot delete; bytes remain", blob_key=key)
        return False
    try:
        await delete(key)
    except StoreError as exc:
        log.error("cannot remove taken-down blob", blob_key=key, error=str(exc))
        return False
    return True


async def gone_reason(
    conn: AsyncConnection, message_id: str, agencies: Collection[str], *, is_sender: bool
) -> str | None:
    """Why ``message_id`` may not be fetched by a caller acting for ``agencies``: taken
    down (anyone), or recalled with status 15 for one of its agencies (not the sender)."""
    stone = await get_tombstone(conn, message_id)
    if stone is not None:
        return f"taken down at {stone.taken_down_at.isoformat()}"
    if is_sender or not agencies:
        return None
    s = StatusHistory.__table__.c
    found = (
        await conn.execute(
            select(s.recipient_code).where(
                s.document_message_id == message_id,
                s.recipient_code.in_(list(agencies)),
                s.status_code == RECALL_ACCEPTED,
            )
        )
    ).first()
    return f"recalled for {found[0]} (status 15)" if found is not None else None


async def ensure_fetchable(
    engine: AsyncEngine, message: Any, agencies: Collection[str], role: str
) -> None:
    """Raise ``MessageGone`` when the caller may no longer fetch ``message``'s bytes."""
    async with transaction(engine) as conn:
        why = await gone_reason(
            conn,
            message.id,
            agencies,
            is_sender=role == "admin" or message.sender in agencies,
        )
    if why is not None:
        raise MessageGone(f"{message.id}: {why}")


async def attachment_reports(
    conn: AsyncConnection, message_ids: Collection[str]
) -> dict[str, list[dict[str, Any]]]:
    """The attachments report (with ``pdf_signatures``) kept in each message's receipt."""
    if not message_ids:
        return {}
    m = Message.__table__.c
    rows = await conn.execute(select(m.id, m.receipt_json).where(m.id.in_(list(message_ids))))
    out: dict[str, list[dict[str, Any]]] = {}
    for message_id, receipt_json in rows:
        try:
            out[message_id] = list(json.loads(receipt_json or "{}").get("attachments", []))
        except ValueError:
            out[message_id] = []
    return out
