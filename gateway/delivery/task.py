"""What travels through RabbitMQ for one delivery attempt: the :class:`DeliveryTask`."""

from __future__ import annotations

import json
from dataclasses import dataclass

from gateway.delivery.topology import lane_for


@dataclass(frozen=True)
class DeliveryTask:
    """Which delivery to attempt, how many times before, the packet's ``OtherInfo/Priority``
    (which picks the lane) and the calling system that sent it (which picks the shard)."""

    delivery_id: str
    message_id: str
    attempt: int = 0
    priority: int = 0
    sender: str = ""

    @property
    def lane(self) -> str:
        """The delivery lane of this task (``urgent`` for priorities 2, 3, 4)."""
        return lane_for(self.priority)

    def encode(self) -> bytes:
        """Return the JSON body of the AMQP message."""
        return json.dumps(
            {
                "delivery_id": self.delivery_id,
                "message_id": self.message_id,
                "attempt": self.attempt,
                "priority": self.priority,
                "sender": self.sender,
            }
        ).encode()

    @classmethod
    def decode(cls, body: bytes) -> DeliveryTask:
        """Read a task from an AMQP message body (``ValueError`` when malformed); a task
        published before shards existed has no sender (shard 0)."""
        try:
            data = json.loads(body)
            return cls(
                str(data["delivery_id"]),
                str(data["message_id"]),
                int(data["attempt"]),
                int(data.get("priority") or 0),
                str(data.get("sender") or ""),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"malformed delivery task: {exc}") from exc
