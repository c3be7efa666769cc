"""How a delivery reaches its recipient: one small ``Transport`` contract, several siblings.

``mailbox`` (pull) lives here; ``push`` is ``adapters.push.transport.PushTransport``; a
``peer`` transport (another node, the national axis) plugs in the same way. The delivery
worker picks the transport by ``DeliveryRow.endpoint_kind``.
"""

from __future__ import annotations

from gateway.ports import DeliveryView, MessageView, Transport

__all__ = ["MailboxTransport", "PermanentDeliveryError", "RetryableDeliveryError", "Transport"]


class DeliveryFailed(Exception):
    """Base of the failures a transport reports to the delivery worker."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class RetryableDeliveryError(DeliveryFailed):
    """Raised by a transport when the attempt may succeed later (5xx, timeout, refused)."""


class PermanentDeliveryError(DeliveryFailed):
    """Raised by a transport when retrying cannot help (4xx, no endpoint URL); parks it."""


class MailboxTransport:
    """Pull delivery: nothing is sent; marking the delivery delivered puts it in the inbox."""

    kind = "mailbox"

    async def deliver(self, delivery: DeliveryView, packet: bytes, message: MessageView) -> None:
        """Accept the delivery as is (the recipient fetches it from its inbox)."""
        return None

    async def close(self) -> None:
        """Nothing to release."""
        return None
