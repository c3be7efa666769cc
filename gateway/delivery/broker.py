"""RabbitMQ: the delivery task queues (K shards per lane), their retry ladder and the parking
queue.

The topology is declared from one table, :func:`gateway.delivery.topology.topology`, under this
node's prefix (see that module): a normal and an urgent lane of ``shards`` queues each, TTL
retry queues that send a task back to its own lane and shard, and a parking queue. A task
travels on the shard of its sending calling system, so a flood fills one shard while the
others flow. Every queue is a quorum queue; messages are persistent and published with
confirms (many in flight); ``message_id`` is the delivery id so consumers are idempotent.
Dead lettering is ``at-least-once`` (which needs ``x-overflow=reject-publish``). Each shard
of each lane is consumed on its own channel with its own prefetch, and handlers run under
one :class:`gateway.delivery.priority_gate.PriorityGate`: urgent tasks first, then fair
between calling systems. Shards beyond the configured count left by an earlier run are
found at start and drained (see :mod:`gateway.delivery.shards`). aio-pika errors are
translated into :class:`gateway.errors.BrokerError` here, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from aiormq.exceptions import AMQPError
from pamqp.commands import Basic

from gateway.delivery.priority_gate import PriorityGate
from gateway.delivery.shards import leftover_shards
from gateway.delivery.task import DeliveryTask
from gateway.delivery.topology import (
    DELIVERY_LIMIT,
    LANES,
    NORMAL,
    RETRY_HEADER,
    URGENT,
    Names,
    QueueSpec,
    lane_for,
    retry_queue_name,
    topology,
    work_queue_spec,
)
from gateway.delivery.transports import PermanentDeliveryError, RetryableDeliveryError
from gateway.errors import BrokerError
from gateway.ops.metrics import BROKER_ERRORS, QUEUE_MESSAGES

log = structlog.get_logger(__name__)

__all__ = [
    "DELIVERY_LIMIT",
    "NORMAL",
    "URGENT",
    "Broker",
    "DeliveryTask",
    "Names",
    "QueueSpec",
    "lane_for",
    "retry_queue_name",
    "topology",
]

# Unprefixed names (a broker built with ``prefix=""``).
WORK_EXCHANGE = "deliver"
WORK_QUEUE = "deliver"
WORK_ROUTING_KEY = "deliver"
PARKED_QUEUE = "parked"
DEFAULT_LADDER: tuple[float, ...] = (5, 30, 120, 600, 3600, 21600)
PUBLISH_TIMEOUT_S = 30.0
MAX_CONFIRMS_IN_FLIGHT = 100
_BROKER_ERRORS = (AMQPError, ConnectionError, OSError, RuntimeError, asyncio.TimeoutError)


Handler = Callable[[DeliveryTask], Awaitable[None]]


class Broker:
    """A robust RabbitMQ connection publishing and consuming delivery tasks.

    ``prefix`` namespaces every exchange and queue, ``shards`` is the number of work queues
    per lane (see :mod:`gateway.delivery.topology`). The robust connection reconnects after
    a broker restart and re-declares the topology and the consumers; unacknowledged tasks
    are redelivered, so handlers must be idempotent.
    """

    def __init__(self, prefix: str = "", shards: int = 1) -> None:
        self.ladder: tuple[float, ...] = DEFAULT_LADDER
        self.names = Names(prefix, shards)
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._consume_channels: list[AbstractChannel] = []
        self._exchange: AbstractExchange | None = None
        self._retry_exchange: AbstractExchange | None = None
        self._inflight = asyncio.Semaphore(MAX_CONFIRMS_IN_FLIGHT)
        self._prefetch = 50
        self.gate = PriorityGate(50)

    async def connect(
        self,
        url: str,
        *,
        prefetch: int = 50,
        ladder: Sequence[float] = DEFAULT_LADDER,
        timeout: float = 30.0,
    ) -> None:
        """Connect to ``url`` and declare the topology for ``ladder`` (seconds per step)."""
        self.ladder = tuple(float(s) for s in ladder)
        self._prefetch = prefetch
        self.gate = PriorityGate(prefetch)
        names = self.names
        try:
            self._connection = await aio_pika.connect_robust(
                url,
                timeout=timeout,
                client_properties={"connection_name": f"edoc-gateway {names.prefix}".strip()},
            )
            self._publish_channel = await self._connection.channel(publisher_confirms=True)
            self._exchange = await self._publish_channel.declare_exchange(
                names.work_exchange, aio_pika.ExchangeType.DIRECT, durable=True
            )
            self._retry_exchange = await self._publish_channel.declare_exchange(
                names.retry_exchange, aio_pika.ExchangeType.HEADERS, durable=True
            )
            exchanges = {
                names.work_exchange: self._exchange,
                names.retry_exchange: self._retry_exchange,
            }
            for spec in topology(self.ladder, names=names):
                queue = await self._publish_channel.declare_queue(
                    spec.name, durable=True, arguments=spec.arguments
                )
                if spec.bind_exchange is not None:
                    await queue.bind(
                        exchanges[spec.bind_exchange],
                        routing_key=spec.bind_key,
                        arguments=spec.bind_arguments,
                    )
        except _BROKER_ERRORS as exc:
            BROKER_ERRORS.inc()
            await self.close()
            raise BrokerError(f"cannot connect to RabbitMQ: {exc}") from exc

    def _message(
        self, task: DeliveryTask, headers: dict[str, Any] | None = None
    ) -> aio_pika.Message:
        return aio_pika.Message(
            task.encode(),
            message_id=task.delivery_id,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers={"x-attempt": task.attempt, **(headers or {})},
        )

    async def _publish_one(
        self,
        task: DeliveryTask,
        *,
        to: str = "lane",
        headers: dict[str, Any] | None = None,
    ) -> None:
        """Publish ``task`` to its lane (``to="lane"``), the retry exchange (``"retry"``,
        ``headers`` naming the step) or the parking queue (``"parked"``)."""
        channel, work, retry = self._publish_channel, self._exchange, self._retry_exchange
        if channel is None or work is None or retry is None:
            raise BrokerError("not connected")
        routing_key = self.names.routing_key(task.lane, self.names.shard_of(task.sender))
        exchange = {"lane": work, "retry": retry, "parked": channel.default_exchange}[to]
        if to == "parked":
            routing_key = self.names.parked
        async with self._inflight:
            try:
                confirmation = await exchange.publish(
                    self._message(task, headers), routing_key, timeout=PUBLISH_TIMEOUT_S
                )
            except _BROKER_ERRORS as exc:
                BROKER_ERRORS.inc()
                raise BrokerError(f"publish of {task.delivery_id} failed: {exc!r}") from exc
        if not isinstance(confirmation, Basic.Ack):
            BROKER_ERRORS.inc()
            raise BrokerError(f"publish of {task.delivery_id} not confirmed: {confirmation!r}")

    async def publish(self, tasks: Sequence[DeliveryTask]) -> None:
        """Publish tasks to their lanes; returns once RabbitMQ confirmed every one.

        Raises ``BrokerError`` if any publish failed (some others may have gone through:
        the outbox sweep and idempotent consumers make that harmless).
        """
        results = await asyncio.gather(
            *(self._publish_one(task) for task in tasks), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            if not isinstance(errors[0], BrokerError):
                raise BrokerError(repr(errors[0])) from errors[0]
            raise errors[0]

    async def consume(self, handler: Handler) -> None:
        """Start consuming every shard of both lanes with ``handler`` (returns once the
        consumers run), and the shards an earlier run with more of them left behind.

        Each shard has its own channel and prefetch; handlers hold a slot of the priority
        gate, urgent tasks first, then fair between senders. The AMQP message is acked
        after ``handler`` returns;
        ``RetryableDeliveryError`` sends the task to the next ladder step (parked after the
        last), ``PermanentDeliveryError`` parks it; any other exception requeues it
        (bounded by ``x-delivery-limit``).
        """
        if self._connection is None:
            raise BrokerError("not connected")
        names = self.names

        async def on_message(message: AbstractIncomingMessage) -> None:
            await self._process(message, handler)

        try:
            leftovers = await leftover_shards(self._connection, names)
            for lane in LANES:
                for shard in (*range(names.shards), *leftovers[lane]):
                    channel = await self._connection.channel()
                    self._consume_channels.append(channel)
                    await channel.set_qos(prefetch_count=self._prefetch)
                    spec = work_queue_spec(names, lane, shard)
                    queue = await channel.declare_queue(
                        spec.name, durable=True, arguments=spec.arguments
                    )
                    await queue.consume(on_message)
        except _BROKER_ERRORS as exc:
            BROKER_ERRORS.inc()
            raise BrokerError(f"cannot consume: {exc}") from exc

    async def _process(self, message: AbstractIncomingMessage, handler: Handler) -> None:
        try:
            task = DeliveryTask.decode(message.body)
        except ValueError as exc:
            log.error("broker.malformed_task", error=str(exc), message_id=message.message_id)
            await self._settle(message.reject(requeue=False))
            return
        async with self.gate.slot(1 if task.lane == URGENT else 0, flow=task.sender):
            try:
                await handler(task)
            except RetryableDeliveryError as exc:
                park = task.attempt >= len(self.ladder)
                await self._reroute(message, task, exc.reason, park=park)
            except PermanentDeliveryError as exc:
                await self._reroute(message, task, exc.reason, park=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("broker.handler_failed", delivery_id=task.delivery_id, error=repr(exc))
                await asyncio.sleep(1.0)  # do not spin on a failing dependency (database down)
                await self._settle(message.nack(requeue=True))
            else:
                await self._settle(message.ack())

    async def _reroute(
        self, message: AbstractIncomingMessage, task: DeliveryTask, reason: str, *, park: bool
    ) -> None:
        headers: dict[str, Any] = {"x-last-error": reason[:1000]}
        try:
            if park:
                await self._publish_one(task, to="parked", headers=headers)
            else:
                headers[RETRY_HEADER] = f"{self.ladder[task.attempt]:g}"
                await self._publish_one(
                    replace(task, attempt=task.attempt + 1), to="retry", headers=headers
                )
        except BrokerError as exc:
            log.warning("broker.reroute_failed", delivery_id=task.delivery_id, error=str(exc))
            await self._settle(message.nack(requeue=True))
            return
        await self._settle(message.ack())

    @staticmethod
    async def _settle(settle: Awaitable[Any]) -> None:
        # After a broker restart the channel is gone: the message will be redelivered.
        try:
            await settle
        except _BROKER_ERRORS as exc:
            BROKER_ERRORS.inc()
            log.warning("broker.settle_failed", error=repr(exc))

    async def queue_depths(self) -> dict[str, int]:
        """Return the number of ready messages in each queue of the topology (every shard
        its own), and set the ``queue_messages`` gauge from them.

        Taken from passive declarations; RabbitMQ 3.10 answers 0 there for quorum queues,
        so treat the figures as a lower bound (exact counts: ``rabbitmqctl list_queues``).
        """
        if self._publish_channel is None:
            raise BrokerError("not connected")
        depths: dict[str, int] = {}
        specs = {s.name: s for s in topology(self.ladder, names=self.names)}
        try:
            for spec in specs.values():
                queue = await self._publish_channel.declare_queue(
                    spec.name, passive=True, robust=False
                )
                result = queue.declaration_result
                depths[spec.name] = int(result.message_count or 0)
        except _BROKER_ERRORS as exc:
            raise BrokerError(f"cannot read queue depths: {exc}") from exc
        for name, count in depths.items():
            state = "retrying" if "x-message-ttl" in specs[name].arguments else "waiting"
            state = "parked" if name == self.names.parked else state
            QUEUE_MESSAGES.labels(queue=name, state=state).set(count)
        return depths

    async def stop_consuming(self) -> None:
        """Stop taking new tasks (tasks in progress finish; unacked ones are redelivered)."""
        channels, self._consume_channels = self._consume_channels, []
        for channel in channels:
            if not channel.is_closed:
                try:
                    await channel.close()
                except _BROKER_ERRORS as exc:
                    log.warning("broker.close_failed", error=repr(exc))

    async def close(self) -> None:
        """Close the channels and the connection."""
        await self.stop_consuming()
        connection, self._connection = self._connection, None
        self._publish_channel = self._exchange = self._retry_exchange = None
        if connection is not None and not connection.is_closed:
            try:
                await connection.close()
            except _BROKER_ERRORS as exc:
                log.warning("broker.close_failed", error=repr(exc))
