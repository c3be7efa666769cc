"""Names and shape of the RabbitMQ delivery topology: one namespace per node, one lane per
urgency, K shards per lane (one calling system's flood fills one shard, the others flow).

Every name carries the node's prefix (``amqp.prefix``, by default the node code), so two
nodes sharing one broker and one virtual host never consume each other's tasks::

    exchange <p>.deliver (direct) ─deliver────────► queue <p>.deliver         (normal, shard 0)
                                  ─deliver.s<i>───► queue <p>.deliver.s<i>    (normal, shard i)
                                  ─deliver.urgent─► queue <p>.deliver.urgent  (urgent, shard 0)
                                  ─deliver.urgent.s<i>► queue <p>.deliver.urgent.s<i>
    exchange <p>.retry (headers, edoc-retry=<s>) ──► queue <p>.retry.<s> (TTL s)
        ──dead-letter, original routing key──► exchange <p>.deliver (back to the same shard)
    queue <p>.parked   last ladder step, permanent failure, or x-delivery-limit reached

A task's shard is :func:`shard_for` its sending calling system (SHA-256, the same in every
process). Shard 0 keeps the un-sharded name, so ``delivery_shards = 1`` is the historical
topology and a node upgraded to more shards finds its backlog in shard 0; every shard queue
has the same arguments, so changing the count never redeclares a queue differently.

The retry queues keep no dead-letter routing key of their own: an expired task goes back
with the routing key it was published with, i.e. to its own lane and shard, so one set of
retry queues serves every shard. An empty prefix gives the historical names (``deliver``…).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

NORMAL = "normal"
URGENT = "urgent"
LANES = (URGENT, NORMAL)  # the order consumers serve them in
URGENT_PRIORITIES = frozenset({2, 3, 4})  # thượng khẩn, hỏa tốc, hỏa tốc hẹn giờ
DELIVERY_LIMIT = 20
RETRY_HEADER = "edoc-retry"  # headers exchanges ignore "x-" headers
MAX_SHARDS = 64


def shard_for(sender: str, shards: int) -> int:
    """Return the shard (0 … ``shards`` - 1) of a task sent by calling system ``sender``.

    SHA-256 of the id, not ``hash()``: every process (and every restart) must agree.
    """
    if shards <= 1:
        return 0
    digest = hashlib.sha256(sender.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


_DEAD_LETTER = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}


def lane_for(priority: int | None) -> str:
    """Return the delivery lane of a packet of this ``OtherInfo/Priority`` (urgent: 2, 3, 4)."""
    return URGENT if priority in URGENT_PRIORITIES else NORMAL


def retry_queue_name(seconds: float) -> str:
    """Return the unprefixed name of the retry queue that holds tasks for ``seconds``."""
    return f"retry.{seconds:g}"


@dataclass(frozen=True)
class Names:
    """The names of one node's exchanges, queues and routing keys (``prefix`` namespaces them;
    ``shards`` work queues per lane)."""

    prefix: str = ""
    shards: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ValueError(f"delivery shards must be 1 to {MAX_SHARDS}, not {self.shards}")

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

    def routing_key(self, lane: str, shard: int = 0) -> str:
        """The routing key of ``lane``'s ``shard`` on the work exchange (unprefixed: the
        exchange is); shard 0 has the un-sharded key."""
        key = "deliver" if lane == NORMAL else f"deliver.{lane}"
        return f"{key}.s{shard}" if shard else key

    def work_queue(self, lane: str = NORMAL, shard: int = 0) -> str:
        """The queue consumers take the tasks of ``lane``'s ``shard`` from."""
        return self._name(self.routing_key(lane, shard))

    def shard_of(self, sender: str) -> int:
        """The shard of this node's lanes that tasks sent by ``sender`` travel on."""
        return shard_for(sender, self.shards)

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


def work_queue_spec(
    names: Names, lane: str, shard: int = 0, *, delivery_limit: int = DELIVERY_LIMIT
) -> QueueSpec:
    """Return the work queue of ``lane``'s ``shard`` (the same arguments for every shard)."""
    return QueueSpec(
        names.work_queue(lane, shard),
        {
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": names.parked,
            **_DEAD_LETTER,
        },
        bind_key=names.routing_key(lane, shard),
        bind_exchange=names.work_exchange,
    )


def topology(
    ladder: Sequence[float],
    *,
    delivery_limit: int = DELIVERY_LIMIT,
    names: Names | None = None,
) -> list[QueueSpec]:
    """Return every queue of the delivery topology for this retry ladder (the normal lane's
    shards first, then the urgent lane's)."""
    names = names or Names()
    queues = [
        work_queue_spec(names, lane, shard, delivery_limit=delivery_limit)
        for lane in (NORMAL, URGENT)
        for shard in range(names.shards)
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
                    **_DEAD_LETTER,
                },
                bind_key="",
                bind_exchange=names.retry_exchange,
                bind_arguments={"x-match": "all", RETRY_HEADER: f"{seconds:g}"},
            )
        )
    return queues
