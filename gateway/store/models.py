"""Tables of the message store: messages, one delivery per recipient, status history.

All timestamps are stored as timezone-aware UTC (``UTCDateTime``), also on SQLite, which
has no time zone type. The inbox cursor is ``deliveries.delivered_seq``: a number given to
a delivery when it becomes visible (a PostgreSQL sequence; ``max + 1`` under SQLite's
single writer), so pull clients page in the order deliveries became visible.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from gateway.store.base import Base

MESSAGE_KINDS = ("document", "status")
ENDPOINT_KINDS = ("mailbox", "push", "peer")
DELIVERY_STATES = (
    "pending",
    "published",
    "delivered",
    "retrying",
    "parked",
    "acked",
    "failed",
    "withdrawn",
)

DELIVERED_SEQ = Sequence("deliveries_delivered_seq", metadata=Base.metadata)


class UTCDateTime(TypeDecorator[datetime]):
    """A ``DateTime`` that always stores and returns aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Convert an aware datetime to UTC (naive on SQLite, which has no zone type)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return the stored value as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Message(Base):
    """One accepted packet (document or status), its blob and its receipt."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint(
            "sender", "document_id", "content_sha256", "kind", name="uq_messages_duplicate"
        ),
        Index("ix_messages_document", "document_id", "sender"),
        Index("ix_messages_sender_accepted", "sender", "accepted_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(64))
    document_id: Mapped[str] = mapped_column(String(255))
    content_sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    caller_system: Mapped[str] = mapped_column(String(128))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    legal_receipt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signature_status: Mapped[str] = mapped_column(String(32))
    signer: Mapped[str | None] = mapped_column(Text, nullable=True)
    algorithm: Mapped[str | None] = mapped_column(String(64), nullable=True)
    business_doc_type: Mapped[int | None] = mapped_column(Integer, nullable=True)
    related_message_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("messages.id"), nullable=True
    )
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    receipt_json: Mapped[str] = mapped_column(Text, default="{}")
    # OtherInfo/Priority of a document (0–4): picks the delivery lane, also when republished.
    priority: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Delivery(Base):
    """One recipient of one message, tracked from storage until the recipient acknowledges."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_resolved_state", "resolved_code", "state"),
        Index("ix_deliveries_state_created", "state", "created_at"),
        Index("ix_deliveries_message", "message_id"),
        Index("ix_deliveries_delivered_seq", "delivered_seq"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(32), ForeignKey("messages.id"))
    recipient_code: Mapped[str] = mapped_column(String(64))
    resolved_code: Mapped[str] = mapped_column(String(64))
    endpoint_kind: Mapped[str] = mapped_column(String(16))
    endpoint_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StatusHistory(Base):
    """One processing status (SPEC §4) recorded for a (document, recipient) pair."""

    __tablename__ = "status_history"
    __table_args__ = (Index("ix_status_history_doc", "document_message_id", "recipient_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_message_id: Mapped[str] = mapped_column(String(32), ForeignKey("messages.id"))
    recipient_code: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    status_message_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Blob(Base):
    """Packet bytes kept in the database (``gateway.store.blob_stores.DatabaseBlobStore``),
    so that every process of a node reads what any of them stored."""

    __tablename__ = "blobs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class MessageHop(Base):
    """One node a relayed message passed through before reaching this node, oldest first
    (``seq`` from 0), as the relaying side reported it (``gateway.store.hops``)."""

    __tablename__ = "message_hops"

    message_id: Mapped[str] = mapped_column(String(32), ForeignKey("messages.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    node: Mapped[str] = mapped_column(String(100))
    # Times as the node that reported them wrote them (ISO 8601 text, not re-interpreted).
    received_at: Mapped[str | None] = mapped_column(String(64), nullable=True)
    forwarded_at: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reported_by: Mapped[str] = mapped_column(String(100))  # the calling system that carried it
    via: Mapped[str] = mapped_column(String(32))  # the door: vxp (signed header), vxp-upstream
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
