"""RabbitMQ: the delivery task queue, its retry ladder and the parking queue.

Topology (declared from one table, :func:`topology`):

    exchange ``deliver`` (direct) ──deliver──► queue ``deliver``  (workers consume)
    queue ``retry.<s>`` (TTL s seconds) ──dead-letter──► exchange ``deliver``
    queue ``parked``     last ladder step, permanent failure, or x-delivery-limit reached

Every queue is a quorum queue; messages are persistent and published with confirms
(many in flight); ``message_id`` is the delivery id so consumers are idempotent. Dead
lettering is ``at-least-once`` (which needs ``x-overflow=reject-publish``). aio-pika errors
are translated into :class:`gateway.errors.BrokerError` here, once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
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

from gateway.errors import BrokerError
from gateway.metrics import BROKER_ERRORS
from gateway.transports import PermanentDeliveryError, RetryableDeliveryError

log = structlog.get_logger(__name__)

WORK_EXCHANGE = "deliver"
WORK_QUEUE = "deliver"
WORK_ROUTING_KEY = "deliver"
PARKED_QUEUE = "parked"
DEFAULT_LADDER: tuple[float, ...] = (5, 30, 120, 600, 3600, 21600)
DELIVERY_LIMIT = 20
PUBLISH_TIMEOUT_S = 30.0
MAX_CONFIRMS_IN_FLIGHT = 100
_BROKER_ERRORS = (AMQPError, ConnectionError, OSError, RuntimeError, asyncio.TimeoutError)


def retry_queue_name(seconds: float) -> str:
    """Return the name of the retry queue that holds tasks for ``seconds`` (``retry.30``)."""
    return f"retry.{seconds:g}"


@dataclass(frozen=True)
class QueueSpec:
    """One queue of the topology: its name, arguments and binding to the work exchange."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    bind_key: str | None = None


def topology(ladder: Sequence[float], *, delivery_limit: int = DELIVERY_LIMIT) -> list[QueueSpec]:
    """Return every queue of the delivery topology for this retry ladder."""
    dead_letter = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
    queues = [
        QueueSpec(
            WORK_QUEUE,
            {
                "x-queue-type": "quorum",
                "x-delivery-limit": delivery_limit,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": PARKED_QUEUE,
                **dead_letter,
            },
            bind_key=WORK_ROUTING_KEY,
        ),
        QueueSpec(PARKED_QUEUE, {"x-queue-type": "quorum"}),
    ]
    for seconds in dict.fromkeys(ladder):
        queues.append(
            QueueSpec(
                retry_queue_name(seconds),
                {
                    "x-queue-type": "quorum",
                    "x-message-ttl": max(1, int(seconds * 1000)),
                    "x-dead-letter-exchange": WORK_EXCHANGE,
                    "x-dead-letter-routing-key": WORK_ROUTING_KEY,
                    **dead_letter,
                },
            )
        )
    return queues


@dataclass(frozen=True)
class DeliveryTask:
    """What travels through RabbitMQ: which delivery to attempt, and how many times before."""

    delivery_id: str
    message_id: str
    attempt: int = 0

    def encode(self) -> bytes:
        """Return the JSON body of the AMQP message."""
        return json.dumps(
            {
                "delivery_id": self.delivery_id,
                "message_id": self.message_id,
                "attempt": self.attempt,
            }
        ).encode()

    @classmethod
    def decode(cls, body: bytes) -> DeliveryTask:
        """Read a task from an AMQP message body (``ValueError`` when malformed)."""
        try:
            data = json.loads(body)
            return cls(str(data["delivery_id"]), str(data["message_id"]), int(data["attempt"]))
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"malformed delivery task: {exc}") from exc


Handler = Callable[[DeliveryTask], Awaitable[None]]


class Broker:
    """A robust RabbitMQ connection publishing and consuming delivery tasks.

    The robust connection reconnects after a broker restart and re-declares the topology
    and the consumer; unacknowledged tasks are redelivered, so handlers must be idempotent.
    """

    def __init__(self) -> None:
        self.ladder: tuple[float, ...] = DEFAULT_LADDER
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._consume_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._inflight = asyncio.Semaphore(MAX_CONFIRMS_IN_FLIGHT)
        self._prefetch = 50
        self._consumer_tag: str | None = None

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
        try:
            self._connection = await aio_pika.connect_robust(
                url, timeout=timeout, client_properties={"connection_name": "edoc-gateway"}
            )
            self._publish_channel = await self._connection.channel(publisher_confirms=True)
            self._exchange = await self._publish_channel.declare_exchange(
                WORK_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
            )
            for spec in topology(self.ladder):
                queue = await self._publish_channel.declare_queue(
                    spec.name, durable=True, arguments=spec.arguments
                )
                if spec.bind_key is not None:
                    await queue.bind(self._exchange, routing_key=spec.bind_key)
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
        self, task: DeliveryTask, *, queue: str | None = None, headers: dict[str, Any] | None = None
    ) -> None:
        if self._publish_channel is None or self._exchange is None:
            raise BrokerError("not connected")
        exchange = self._exchange if queue is None else self._publish_channel.default_exchange
        routing_key = WORK_ROUTING_KEY if queue is None else queue
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
        """Publish tasks to the work queue; returns once RabbitMQ confirmed every one.

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
        """Start consuming the work queue with ``handler`` (returns once the consumer runs).

        The AMQP message is acked after ``handler`` returns; ``RetryableDeliveryError``
        sends the task to the next ladder step (parked after the last),
        ``PermanentDeliveryError`` parks it; any other exception requeues it (bounded by
        ``x-delivery-limit``).
        """
        if self._connection is None:
            raise BrokerError("not connected")
        try:
            self._consume_channel = await self._connection.channel()
            await self._consume_channel.set_qos(prefetch_count=self._prefetch)
            queue = await self._consume_channel.declare_queue(
                WORK_QUEUE, durable=True, arguments=topology(self.ladder)[0].arguments
            )

            async def on_message(message: AbstractIncomingMessage) -> None:
                await self._process(message, handler)

            self._consumer_tag = await queue.consume(on_message)
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
        try:
            await handler(task)
        except RetryableDeliveryError as exc:
            await self._reroute(message, task, exc.reason, park=task.attempt >= len(self.ladder))
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
        headers = {"x-last-error": reason[:1000]}
        try:
            if park:
                await self._publish_one(task, queue=PARKED_QUEUE, headers=headers)
            else:
                step = self.ladder[task.attempt]
                await self._publish_one(
                    replace(task, attempt=task.attempt + 1),
                    queue=retry_queue_name(step),
                    headers=headers,
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
        """Return the number of ready messages in each queue of the topology.

        Taken from passive declarations; RabbitMQ 3.10 answers 0 there for quorum queues,
        so treat the figures as a lower bound (exact counts: ``rabbitmqctl list_queues``).
        """
        if self._publish_channel is None:
            raise BrokerError("not connected")
        depths: dict[str, int] = {}
        try:
            for spec in topology(self.ladder):
                queue = await self._publish_channel.declare_queue(
                    spec.name, passive=True, robust=False
                )
                result = queue.declaration_result
                depths[spec.name] = int(result.message_count or 0)
        except _BROKER_ERRORS as exc:
            raise BrokerError(f"cannot read queue depths: {exc}") from exc
        return depths

    async def stop_consuming(self) -> None:
        """Stop taking new tasks (tasks in progress finish; unacked ones are redelivered)."""
        channel, self._consume_channel = self._consume_channel, None
        if channel is not None and not channel.is_closed:
            try:
                await channel.close()
            except _BROKER_ERRORS as exc:
                log.warning("broker.close_failed", error=repr(exc))

    async def close(self) -> None:
        """Close the channels and the connection."""
        await self.stop_consuming()
        connection, self._connection = self._connection, None
        self._publish_channel = self._exchange = None
        if connection is not None and not connection.is_closed:
            try:
                await connection.close()
            except _BROKER_ERRORS as exc:
                log.warning("broker.close_failed", error=repr(exc))
