"""The ports: the typed interfaces where the core and its adapters meet.

Adapters (doors, transports) depend on these Protocols and views, never on the store's rows
or tables; the core implements the operations (``gateway.core.operations.Gateway``) and gives the
transports read-only views of what they deliver (the store's rows satisfy them as they are).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from gateway.core.receipts import Receipt
from gateway.core.views import Hop, InboxItem, SentItem, Trace
from gateway.credentials.auth import Caller


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
