"""The ports: the typed interfaces where the core and its adapters meet.

- ``Core``: the operations every door calls (``gateway.core.operations.Gateway``), answering
  with the typed views of ``gateway.core.views``;
- ``Transport`` with ``DeliveryView`` and ``MessageView``: how a delivery reaches its recipient
  (mailbox, push, peer), reading views of the delivery, never store rows;
- ``Publisher``: where stored deliveries are handed for delivery (RabbitMQ);
- ``BlobStore``: where packet bytes live (file, database, S3);
- ``Directory``: what the core asks of the agency directory.

Refusals decided at a door are audited through ``gateway.audit.refusals``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from gateway.core.receipts import Receipt
from gateway.core.views import Hop, InboxItem, SentItem, Trace
from gateway.credentials.auth import Caller

if TYPE_CHECKING:
    from gateway.delivery.broker import DeliveryTask
    from gateway.directory.resolver import Agency, Resolution


class Core(Protocol):
    """The core operations every door calls (``gateway.core.operations.Gateway``)."""

    async def submit(
        self, raw: bytes, caller: Caller, *, via: str = "rest", hops: Sequence[Hop] = ()
    ) -> Receipt:
        """Accept a document or status packet; return its receipt. ``hops``: the path a
        relaying node reported beside the packet (stored with the message)."""
        ...

    async def inbox(
        self, caller: Caller, *, after: str | None = None, limit: int = 100
    ) -> list[InboxItem]:
        """Return the caller's delivered, unacknowledged items after a cursor."""
        ...

    async def fetch(self, caller: Caller, message_id: str) -> bytes:
        """Return the exact packet bytes of a message addressed to the caller."""
        ...

    async def ack(self, caller: Caller, message_id: str) -> list[str]:
        """Acknowledge the caller's deliveries of a message; return their ids."""
        ...

    async def refuse(self, caller: Caller, message_id: str, reason: str = "") -> list[str]:
        """Refuse the transfer of the caller's deliveries of a message (``updateStatus fail``)."""
        ...

    async def sent(
        self, caller: Caller, *, after: str | None = None, limit: int = 100
    ) -> list[SentItem]:
        """Return what the caller's agencies sent, with per-recipient state."""
        ...

    async def trace(self, caller: Caller, message_id: str) -> Trace:
        """Return every recorded event of a message the caller sent or received."""
        ...

    async def onward_hops(self, message_id: str, caller: Caller | None = None) -> tuple[Hop, ...]:
        """The path to send on with a message relayed further: its hops, then this node's."""
        ...


class DeliveryView(Protocol):
    """What a transport reads of the delivery it carries out."""

    @property
    def id(self) -> str:
        """The delivery id (one recipient of one message)."""
        ...

    @property
    def resolved_code(self) -> str:
        """The live agency code the packet goes to."""
        ...

    @property
    def endpoint_kind(self) -> str:
        """``mailbox``, ``push`` or ``peer``."""
        ...

    @property
    def endpoint_url(self) -> str | None:
        """The recipient's URL for push and peer endpoints."""
        ...


class MessageView(Protocol):
    """What a transport reads of the message it delivers."""

    @property
    def id(self) -> str:
        """The message id."""
        ...

    @property
    def kind(self) -> str:
        """``document`` or ``status``."""
        ...

    @property
    def sender(self) -> str:
        """The sending agency's code."""
        ...

    @property
    def accepted_at(self) -> datetime:
        """When this node accepted the message."""
        ...


class Transport(Protocol):
    """Hands one delivery's packet to its recipient; returns when the recipient has it."""

    kind: str

    async def deliver(self, delivery: DeliveryView, packet: bytes, message: MessageView) -> None:
        """Deliver ``packet`` or raise ``RetryableDeliveryError`` / ``PermanentDeliveryError``."""
        ...

    async def close(self) -> None:
        """Release what the transport holds (HTTP sessions, connections)."""
        ...


class BlobStore(Protocol):
    """Where packet bytes live; the database keeps only their key."""

    async def put(self, data: bytes) -> str:
        """Store ``data`` and return its key (SHA-256 hex); storing it again is a no-op."""
        ...

    async def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key``; ``NotFound`` when there are none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the bytes stored under ``key`` (a takedown); no error when absent."""
        ...


@runtime_checkable
class Directory(Protocol):
    """What the core asks of the directory; every method is synchronous and in memory."""

    def resolve(self, code: str) -> Resolution:
        """Return the live agency for a new or old code, or raise a gateway refusal."""
        ...

    def get(self, code: str) -> Agency | None:
        """Return the agency recorded under a new or old code, whatever its status."""
        ...

    def agencies_for_system(self, system_id: str) -> frozenset[str]:
        """Return the codes of the agencies the calling system is bound to."""
        ...

    def record_activity(self, code: str, at: datetime) -> None:
        """Note that the agency sent or received a document at ``at``."""
        ...


class Publisher(Protocol):
    """Where the core hands the delivery tasks of a stored message (RabbitMQ with confirms,
    ``gateway.delivery.broker.Broker``)."""

    async def publish(self, tasks: Sequence[DeliveryTask]) -> None:
        """Publish every task, returning only once the broker confirmed them all."""
        ...
