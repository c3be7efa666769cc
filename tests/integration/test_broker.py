"""RabbitMQ topology, confirms, retry ladder and parking (gateway/delivery/broker.py),
real server."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import aio_pika
import pytest

from gateway.delivery.broker import (
    PARKED_QUEUE,
    WORK_QUEUE,
    Broker,
    DeliveryTask,
    retry_queue_name,
    topology,
)
from gateway.delivery.transports import PermanentDeliveryError, RetryableDeliveryError
from gateway.errors import BrokerError

pytestmark = pytest.mark.integration

LADDER = (0.2, 0.4)
WAIT_S = 60.0


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[Broker]:
    b = Broker()
    await b.connect(amqp_url, prefetch=20, ladder=LADDER)
    yield b
    await b.close()


async def wait_for(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def get_parked(amqp_url: str) -> aio_pika.abc.AbstractIncomingMessage:
    """Take one message from the parked queue (waiting for it to arrive)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(PARKED_QUEUE, ensure=False)
        for _ in range(int(WAIT_S / 0.1)):
            incoming = await queue.get(fail=False)
            if incoming is not None:
                await incoming.ack()
                return incoming
            await asyncio.sleep(0.1)
    raise AssertionError("nothing was parked")


def tasks(n: int) -> list[DeliveryTask]:
    return [DeliveryTask(f"d{i:04d}", f"m{i:04d}") for i in range(n)]


def test_topology_is_quorum_with_ttl_retry_queues_dead_lettering_back() -> None:
    specs = {s.name: s for s in topology((5, 30, 5))}
    assert set(specs) == {WORK_QUEUE, "deliver.urgent", PARKED_QUEUE, "retry.5", "retry.30"}
    assert all(s.arguments["x-queue-type"] == "quorum" for s in specs.values())
    work = specs[WORK_QUEUE].arguments
    assert work["x-dead-letter-routing-key"] == PARKED_QUEUE
    assert work["x-dead-letter-strategy"] == "at-least-once"
    assert work["x-overflow"] == "reject-publish" and work["x-delivery-limit"] > 0
    retry = specs["retry.30"].arguments
    assert retry["x-message-ttl"] == 30_000 and retry["x-dead-letter-exchange"] == "deliver"
    assert retry_queue_name(0.5) == "retry.0.5"


async def test_every_published_task_is_consumed_once(broker: Broker, amqp_url: str) -> None:
    seen: Counter[str] = Counter()

    async def handler(task: DeliveryTask) -> None:
        seen[task.delivery_id] += 1

    await broker.publish(tasks(300))
    await broker.consume(handler)
    await wait_for(lambda: len(seen) == 300, "300 tasks")
    await asyncio.sleep(0.5)
    assert set(seen.values()) == {1}
    assert set(await broker.queue_depths()) == {
        WORK_QUEUE,
        "deliver.urgent",
        PARKED_QUEUE,
        "retry.0.2",
        "retry.0.4",
    }


async def test_message_is_persistent_and_carries_the_delivery_id(
    broker: Broker, amqp_url: str
) -> None:
    await broker.publish([DeliveryTask("delivery-1", "message-1")])
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(WORK_QUEUE, ensure=False)
        incoming = await queue.get(timeout=10)
        assert incoming is not None
        assert incoming.message_id == "delivery-1"
        assert incoming.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert DeliveryTask.decode(incoming.body) == DeliveryTask("delivery-1", "message-1", 0)
        await incoming.ack()


async def test_retryable_failures_climb_the_ladder_then_succeed(broker: Broker) -> None:
    attempts: list[int] = []

    async def handler(task: DeliveryTask) -> None:
        attempts.append(task.attempt)
        if task.attempt < 2:
            raise RetryableDeliveryError("503 from recipient")

    await broker.consume(handler)
    await broker.publish([DeliveryTask("d-retry", "m")])
    await wait_for(lambda: attempts == [0, 1, 2], "three attempts")
    await asyncio.sleep(0.8)
    assert attempts == [0, 1, 2]


async def test_after_the_last_step_the_task_is_parked(broker: Broker, amqp_url: str) -> None:
    attempts: list[int] = []

    async def handler(task: DeliveryTask) -> None:
        attempts.append(task.attempt)
        raise RetryableDeliveryError("still down")

    await broker.consume(handler)
    await broker.publish([DeliveryTask("d-park", "m")])
    await wait_for(lambda: len(attempts) == len(LADDER) + 1, "all attempts")
    parked = await get_parked(amqp_url)
    assert parked.message_id == "d-park"
    assert parked.headers["x-last-error"] == "still down"
    assert attempts == [0, 1, 2]


async def test_permanent_failure_parks_at_once(broker: Broker, amqp_url: str) -> None:
    attempts: list[int] = []

    async def handler(task: DeliveryTask) -> None:
        attempts.append(task.attempt)
        raise PermanentDeliveryError("404 from recipient")

    await broker.consume(handler)
    await broker.publish([DeliveryTask("d-perm", "m")])
    parked = await get_parked(amqp_url)
    assert parked.message_id == "d-perm"
    assert parked.headers["x-last-error"] == "404 from recipient"
    assert attempts == [0]


async def test_unexpected_handler_error_requeues_the_task(broker: Broker) -> None:
    calls: list[str] = []

    async def handler(task: DeliveryTask) -> None:
        calls.append(task.delivery_id)
        if len(calls) == 1:
            raise RuntimeError("database down")

    await broker.consume(handler)
    await broker.publish([DeliveryTask("d-requeue", "m")])
    await wait_for(lambda: len(calls) == 2, "the requeued task")
    assert calls == ["d-requeue", "d-requeue"]


async def test_declaring_twice_is_harmless(amqp_url: str) -> None:
    for _ in range(2):
        b = Broker()
        await b.connect(amqp_url, prefetch=5, ladder=LADDER)
        await b.close()


async def test_unreachable_broker_is_a_broker_error() -> None:
    with pytest.raises(BrokerError):
        await Broker().connect("amqp://guest:guest@127.0.0.1:1/", ladder=LADDER, timeout=5)
