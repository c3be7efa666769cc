"""Row types of the message store, ids and times, and the helpers that build rows.

Shared by the store's query modules (``gateway.store.repository`` for messages and reads,
``gateway.store.deliveries`` for delivery state changes, ``gateway.store.bulk``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.database import translate_errors
from gateway.store.models import Delivery, Message

FINAL_STATES = ("delivered", "acked", "failed", "withdrawn")  # withdrawn: gateway.legal.takedown


def new_id() -> str:
    """Return a new identifier (uuid4 hex) for a message or a delivery."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


@dataclass
class NewMessage:
    """A message row to insert (mirrors ``messages``)."""

    kind: str
    sender: str
    document_id: str
    content_sha256: str
    blob_key: str
    size: int
    caller_system: str
    accepted_at: datetime
    legal_receipt_at: datetime
    signature_status: str
    signer: str | None = None
    algorithm: str | None = None
    business_doc_type: int | None = None
    related_message_id: str | None = None
    status_code: int | None = None
    receipt_json: str = "{}"
    id: str = field(default_factory=new_id)
    priority: int | None = None


@dataclass
class NewDelivery:
    """A delivery row to insert with its message (mirrors ``deliveries``)."""

    recipient_code: str
    resolved_code: str
    endpoint_kind: str = "mailbox"
    endpoint_url: str | None = None
    state: str = "pending"
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class MessageRow:
    """A stored message."""

    id: str
    kind: str
    sender: str
    document_id: str
    content_sha256: str
    blob_key: str
    size: int
    caller_system: str
    accepted_at: datetime
    legal_receipt_at: datetime
    signature_status: str
    signer: str | None
    algorithm: str | None
    business_doc_type: int | None
    related_message_id: str | None
    status_code: int | None
    receipt_json: str
    priority: int | None = None


@dataclass(frozen=True)
class DeliveryRow:
    """A stored delivery (one recipient of one message)."""

    id: str
    message_id: str
    recipient_code: str
    resolved_code: str
    endpoint_kind: str
    endpoint_url: str | None
    state: str
    attempts: int
    last_error: str | None
    delivered_seq: int | None
    created_at: datetime
    published_at: datetime | None
    delivered_at: datetime | None
    acked_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class InboxRow:
    """A delivery waiting in a mailbox, with what the recipient needs to fetch it."""

    cursor: str
    delivery_id: str
    message_id: str
    kind: str
    sender: str
    document_id: str
    recipient_code: str
    resolved_code: str
    content_sha256: str
    size: int
    accepted_at: datetime
    delivered_at: datetime
    status_code: int | None
    business_doc_type: int | None


@dataclass(frozen=True)
class StatusRow:
    """One status recorded for a (document, recipient) pair."""

    id: int
    document_message_id: str
    recipient_code: str
    status_code: int
    status_message_id: str | None
    at: datetime


R = TypeVar("R")


def _row(cls: type[R], mapping: Any) -> R:
    return cls(**{f.name: mapping[f.name] for f in fields(cls)})  # type: ignore[arg-type]


_MESSAGE_COLS = [Message.__table__.c[f.name] for f in fields(MessageRow)]
_DELIVERY_COLS = [Delivery.__table__.c[f.name] for f in fields(DeliveryRow)]


async def _deliveries(
    conn: AsyncConnection, *where: Any, limit: int | None = None
) -> list[DeliveryRow]:
    stmt = select(*_DELIVERY_COLS).where(*where).order_by(Delivery.created_at, Delivery.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    with translate_errors():
        rows = (await conn.execute(stmt)).mappings().all()
    return [_row(DeliveryRow, r) for r in rows]
