"""Names and shape of the RabbitMQ delivery topology: one namespace per node, one lane per urgency.

Every name carries the node's prefix (``amqp.prefix``, by default the node code), so two
nodes sharing one broker and one virtual host never consume each other's tasks::

    exchange <p>.deliver (direct) ─deliver────────► queue <p>.deliver         (normal lane)
                                  ─deliver.urgent─► queue <p>.deliver.urgent  (urgent lane)
    exchange <p>.retry (headers, edoc-retry=<s>) ──► queue <p>.retry.<s> (TTL s)
        ──dead-letter, original routing key──► exchange <p>.deliver (back to the same lane)
    queue <p>.parked   last ladder step, permanent failure, or x-delivery-limit reached

The retry queues keep no dead-letter routing key of their own: an expired task goes back
with the routing key it was published with, i.e. to its own lane, so one set of retry
queues serves both lanes. An empty prefix gives the historical names (``deliver``…).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

NORMAL = "normal"
URGENT = "urgent"
LANES = (URGENT, NORMAL)  # the order consumers serve them in
URGENT_PRIORITIES = frozenset({2, 3, 4})  # thượng khẩn, hỏa tốc, hỏa tốc hẹn giờ
DELIVERY_LIMIT = 20
RETRY_HEADER = "edoc-retry"  # headers exchanges ignore "x-" headers


def lane_for(priority: int | None) -> str:
    """Return the delivery lane of a packet of this ``OtherInfo/Priority`` (urgent: 2, 3, 4)."""
    return URGENT if priority in URGENT_PRIORITIES else NORMAL


def retry_queue_name(seconds: float) -> str:
    """Return the unprefixed name of the retry queue that holds tasks for ``seconds``."""
    return f"retry.{seconds:g}"


@dataclass(frozen=True)
class Names:
    """The names of one node's exchanges, queues and routing keys (``prefix`` namespaces them)."""

    prefix: str = ""

    def _name(self, base: str) -> str:
        return f"{self.prefix}.{base}" if self.prefix else base

    @property
    def work_exchange(self) -> str:
        """The direct exchange the lanes are bound to."""
        return self._name("deliver")

    @property
    def retry_exchange(self) -> str:
        """The headers exchange routing a task to the retry queue of its ladder step."""
        return self._name("retry")

    @property
    def parked(self) -> str:
        """The queue of tasks that will not be retried any more."""
        return self._name("parked")

    def routing_key(self, lane: str) -> str:
        """The routing key of ``lane`` on the work exchange (unprefixed: the exchange is)."""
        return "deliver" if lane == NORMAL else f"deliver.{lane}"

    def work_queue(self, lane: str = NORMAL) -> str:
        """The queue consumers take ``lane``'s tasks from."""
        return self._name(self.routing_key(lane))

    def retry_queue(self, seconds: float) -> str:
        """The TTL queue of one ladder step."""
        return self._name(retry_queue_name(seconds))


@dataclass(frozen=True)
class QueueSpec:
    """One queue of the topology: its name, arguments and binding (exchange, key, headers)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    bind_key: str | None = None
    bind_exchange: str | None = None
    bind_arguments: dict[str, Any] | None = None


def topology(
    ladder: Sequence[float],
    *,
    delivery_limit: int = DELIVERY_LIMIT,
    names: Names | None = None,
) -> list[QueueSpec]:
    """Return every queue of the delivery topology for this retry ladder (normal lane first)."""
    names = names or Names()
    dead_letter = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    queues = [
        QueueSpec(
            names.work_queue(lane),
            {
                "x-queue-type": "quorum",
                "x-delivery-limit": delivery_limit,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": names.parked,
                **dead_letter,
            },
            bind_key=names.routing_key(lane),
            bind_exchange=names.work_exchange,
        )
        for lane in (NORMAL, URGENT)
    ]
    queues.append(QueueSpec(names.parked, {"x-queue-type": "quorum"}))
    for seconds in dict.fromkeys(ladder):
        queues.append(
            QueueSpec(
                names.retry_queue(seconds),
                {
                    "x-queue-type": "quorum",
                    "x-message-ttl": max(1, int(seconds * 1000)),
                    "x-dead-letter-exchange": names.work_exchange,
                    **dead_letter,
                },
                bind_key="",
                bind_exchange=names.retry_exchange,
                bind_arguments={"x-match": "all", RETRY_HEADER: f"{seconds:g}"},
            )
        )
    return queues
