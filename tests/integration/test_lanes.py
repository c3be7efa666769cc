"""Topology namespaces and delivery lanes (gateway/delivery/topology.py, broker.py),
real RabbitMQ.

Two brokers with different prefixes on one virtual host never see each other's tasks; an
urgent task (priority 2–4) travels on its own quorum queue, comes back to it after a retry,
and is served ahead of a backlog of normal tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest

from gateway.delivery.broker import Broker, DeliveryTask
from gateway.delivery.topology import NORMAL, URGENT, Names, lane_for, topology
from gateway.delivery.transports import RetryableDeliveryError

pytestmark = pytest.mark.integration

LADDER = (0.2, 0.4)
WAIT_S = 60.0


async def wait_for(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def pair(amqp_url: str) -> AsyncIterator[tuple[Broker, Broker]]:
    a, b = Broker("000.00.00.A01"), Broker("000.00.00.B02")
    await a.connect(amqp_url, prefetch=10, ladder=LADDER)
    await b.connect(amqp_url, prefetch=10, ladder=LADDER)
    yield a, b
    await a.close()
    await b.close()


def test_priority_picks_the_lane_and_names_carry_the_prefix() -> None:
    assert [lane_for(p) for p in (None, 0, 1, 2, 3, 4)] == [NORMAL] * 3 + [URGENT] * 3
    names = Names("000.00.00.G22")
    specs = {s.name: s for s in topology((5, 30), names=names)}
    assert set(specs) == {
        "000.00.00.G22.deliver",
        "000.00.00.G22.deliver.urgent",
        "000.00.00.G22.parked",
        "000.00.00.G22.retry.5",
        "000.00.00.G22.retry.30",
    }
    retry = specs["000.00.00.G22.retry.30"]
    assert retry.arguments["x-dead-letter-exchange"] == "000.00.00.G22.deliver"
    assert "x-dead-letter-routing-key" not in retry.arguments  # back to the task's own lane
    urgent = specs["000.00.00.G22.deliver.urgent"].arguments
    assert urgent["x-queue-type"] == "quorum"
    assert urgent["x-dead-letter-routing-key"] == "000.00.00.G22.parked"


async def test_two_prefixes_on_one_vhost_never_take_each_others_tasks(
    pair: tuple[Broker, Broker],
) -> None:
    a, b = pair
    seen: dict[str, list[str]] = {"a": [], "b": []}

    async def on_a(task: DeliveryTask) -> None:
        seen["a"].append(task.delivery_id)

    async def on_b(task: DeliveryTask) -> None:
        seen["b"].append(task.delivery_id)

    await a.consume(on_a)
    await b.consume(on_b)
    await a.publish([DeliveryTask(f"a{i}", "m", priority=i % 5) for i in range(60)])
    await b.publish([DeliveryTask(f"b{i}", "m", priority=i % 5) for i in range(60)])
    await wait_for(lambda: len(seen["a"]) == 60 and len(seen["b"]) == 60, "both nodes' tasks")
    await asyncio.sleep(0.5)
    assert sorted(seen["a"]) == sorted(f"a{i}" for i in range(60))
    assert sorted(seen["b"]) == sorted(f"b{i}" for i in range(60))


async def test_urgent_task_travels_on_its_own_queue_and_retries_back_to_it(
    amqp_url: str,
) -> None:
    broker = Broker("node")
    await broker.connect(amqp_url, prefetch=5, ladder=LADDER)
    attempts: list[int] = []

    async def fail_once(task: DeliveryTask) -> None:
        attempts.append(task.attempt)
        raise RetryableDeliveryError("recipient busy")

    try:
        await broker.consume(fail_once)
        await broker.publish([DeliveryTask("urgent-1", "m", priority=3)])
        await wait_for(lambda: attempts == [0] and broker.gate.busy == 0, "first attempt rerouted")
        await broker.stop_consuming()
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            urgent = await channel.get_queue("node.deliver.urgent", ensure=False)
            normal = await channel.get_queue("node.deliver", ensure=False)
            incoming = None
            for _ in range(int(WAIT_S / 0.1)):
                incoming = await urgent.get(fail=False)
                if incoming is not None:
                    break
                await asyncio.sleep(0.1)
            assert incoming is not None, "the retried urgent task did not come back"
            assert DeliveryTask.decode(incoming.body) == DeliveryTask("urgent-1", "m", 1, 3)
            await incoming.ack()
            assert await normal.get(fail=False) is None
    finally:
        await broker.close()


async def test_urgent_tasks_are_served_before_a_normal_backlog(amqp_url: str) -> None:
    broker = Broker("node")
    await broker.connect(amqp_url, prefetch=4, ladder=LADDER)
    order: list[str] = []

    async def slow(task: DeliveryTask) -> None:
        await asyncio.sleep(0.05)
        order.append(task.delivery_id)

    try:
        await broker.publish([DeliveryTask(f"n{i:03d}", "m") for i in range(200)])
        await broker.consume(slow)
        await wait_for(lambda: len(order) >= 8, "the backlog to start")
        await broker.publish([DeliveryTask(f"u{i}", "m", priority=4) for i in range(5)])
        await wait_for(lambda: all(f"u{i}" in order for i in range(5)), "urgent tasks")
        started = next(i for i, d in enumerate(order) if d.startswith("u"))
        finished = max(i for i, d in enumerate(order) if d.startswith("u"))
        # Behind 200 normal tasks, the urgent ones pass after at most a gate's worth of them.
        assert finished - started <= 4 + 5, order[started : finished + 1]
        assert sum(1 for d in order if d.startswith("n")) < 100
    finally:
        await broker.close()
