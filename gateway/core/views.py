"""Typed views the core answers with: inbox item, sent item, trace, hop. Adapters render them.

Every view has ``as_dict`` (the JSON form of the native API); the protocol doors read the
attributes and render them in their own form. Times are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class InboxItem:
    """One delivery waiting in a caller's mailbox."""

    cursor: str
    delivery_id: str
    message_id: str
    kind: str
    sender: str
    recipient: str
    document_id: str
    content_sha256: str
    size: int
    accepted_at: datetime
    delivered_at: datetime
    status_code: int | None = None
    business_doc_type: int | None = None
    attachments: tuple[dict[str, Any], ...] = ()  # the legal review: pdf_signatures, scan

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        data = asdict(self)
        data["attachments"] = list(self.attachments)
        data["accepted_at"] = self.accepted_at.isoformat()
        data["delivered_at"] = self.delivered_at.isoformat()
        return data


@dataclass(frozen=True)
class RecipientState:
    """Where one copy of a message stands: delivery state and latest processing status."""

    delivery_id: str
    recipient_code: str
    resolved_code: str
    endpoint: str
    state: str
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    acked_at: datetime | None
    status_code: str | None = None  # latest processing status ("01" … "16"), if any

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        data = asdict(self)
        data["delivered_at"] = _iso(self.delivered_at)
        data["acked_at"] = _iso(self.acked_at)
        return data


@dataclass(frozen=True)
class SentItem:
    """One message the caller's agencies sent, with the state of every recipient."""

    message_id: str
    kind: str
    sender: str
    document_id: str
    accepted_at: datetime
    status_code: int | None
    recipients: tuple[RecipientState, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "message_id": self.message_id,
            "kind": self.kind,
            "sender": self.sender,
            "document_id": self.document_id,
            "accepted_at": self.accepted_at.isoformat(),
            "status_code": self.status_code,
            "recipients": [r.as_dict() for r in self.recipients],
        }


@dataclass(frozen=True)
class MessageSummary:
    """What the trace says of the message itself."""

    id: str
    kind: str
    sender: str
    document_id: str
    content_sha256: str
    accepted_at: datetime
    legal_receipt_at: datetime | None
    signature_status: str | None
    status_code: int | None
    business_doc_type: int | None
    related_message_id: str | None
    attachments: tuple[dict[str, Any], ...] = ()
    taken_down: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        data = asdict(self)
        data["accepted_at"] = self.accepted_at.isoformat()
        data["legal_receipt_at"] = _iso(self.legal_receipt_at)
        data["attachments"] = list(self.attachments)
        return data


@dataclass(frozen=True)
class StatusEntry:
    """One processing status recorded for a (document, recipient) pair."""

    recipient_code: str
    status_code: str  # two digits, "01" … "16"
    status_message_id: str | None
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {**asdict(self), "at": self.at.isoformat()}


@dataclass(frozen=True)
class Hop:
    """One node on a relayed message's path (``gateway.core.hops``). ``node``,
    ``received_at`` and ``forwarded_at`` are as that node reported them (ISO 8601 text);
    ``reported_by``, ``via`` and ``recorded_at`` are this node's record of the report
    (``None`` on a hop not stored here)."""

    node: str
    received_at: str | None = None
    forwarded_at: str | None = None
    reported_by: str | None = None
    via: str | None = None
    recorded_at: str | None = None

    def wire(self) -> dict[str, str | None]:
        """The form that travels to the next node: node, received_at, forwarded_at."""
        return {
            "node": self.node,
            "received_at": self.received_at,
            "forwarded_at": self.forwarded_at,
        }

    def as_dict(self) -> dict[str, str | None]:
        """Return the JSON form (the trace's)."""
        return {
            **self.wire(),
            "reported_by": self.reported_by,
            "via": self.via,
            "recorded_at": self.recorded_at,
        }


@dataclass(frozen=True)
class Trace:
    """Per-recipient delivery state, status history and path (``hops``: the nodes a
    relayed message passed before this one, oldest first) of one message."""

    message: MessageSummary
    deliveries: tuple[RecipientState, ...]
    statuses: tuple[StatusEntry, ...]
    hops: tuple[Hop, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "message": self.message.as_dict(),
            "deliveries": [d.as_dict() for d in self.deliveries],
            "statuses": [s.as_dict() for s in self.statuses],
            "hops": [h.as_dict() for h in self.hops],
        }
