"""Delivery shards without a broker: the shard function, the sharded names, fair slots."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys

import pytest

from gateway.delivery.priority_gate import PriorityGate
from gateway.delivery.task import DeliveryTask
from gateway.delivery.topology import NORMAL, URGENT, Names, shard_for, topology, work_queue_spec


def test_shard_is_sha256_of_the_sender_modulo_the_count() -> None:
    for sender in ("SYS-G22", "SYS-H41", "qlvb", "hệ-thống-Ế", ""):
        digest = hashlib.sha256(sender.encode()).digest()
        for shards in (2, 3, 4, 7, 64):
            assert shard_for(sender, shards) == int.from_bytes(digest[:8], "big") % shards
        assert shard_for(sender, 1) == 0
    # Spread: 200 senders over 4 shards leave none empty.
    assert {shard_for(f"SYS-{i}", 4) for i in range(200)} == {0, 1, 2, 3}


def test_shard_is_the_same_in_another_process() -> None:
    # Not Python's hash(): that one is salted per process (PYTHONHASHSEED).
    code = "from gateway.delivery.topology import shard_for; print(shard_for('SYS-G22x', 7))"
    env = {"PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert int(other.stdout) == shard_for("SYS-G22x", 7)


def test_one_shard_keeps_the_historical_names() -> None:
    specs = {s.name for s in topology((5, 30), names=Names("p"))}
    assert specs == {"p.deliver", "p.deliver.urgent", "p.parked", "p.retry.5", "p.retry.30"}
    assert Names("p", 1) == Names("p")


def test_shard_zero_is_the_unsharded_queue_and_every_shard_has_its_arguments() -> None:
    names = Names("000.00.00.G22", 3)
    work = [s for s in topology((5,), names=names) if "deliver" in s.name]
    assert [s.name for s in work] == [
        "000.00.00.G22.deliver",
        "000.00.00.G22.deliver.s1",
        "000.00.00.G22.deliver.s2",
        "000.00.00.G22.deliver.urgent",
        "000.00.00.G22.deliver.urgent.s1",
        "000.00.00.G22.deliver.urgent.s2",
    ]
    assert [s.bind_key for s in work] == [
        "deliver",
        "deliver.s1",
        "deliver.s2",
        "deliver.urgent",
        "deliver.urgent.s1",
        "deliver.urgent.s2",
    ]
    # The same arguments whatever the shard and the count: a restart with another count
    # never redeclares a quorum queue differently (PRECONDITION_FAILED).
    one = work_queue_spec(Names("000.00.00.G22"), NORMAL).arguments
    assert all(s.arguments == one for s in work)
    assert work_queue_spec(Names("000.00.00.G22", 8), URGENT, 2).arguments == one


def test_shard_count_is_bounded() -> None:
    for bad in (0, 65):
        with pytest.raises(ValueError):
            Names("p", bad)


def test_task_carries_its_sender_and_reads_tasks_without_one() -> None:
    task = DeliveryTask("d1", "m1", 2, 3, "SYS-Ế")
    assert DeliveryTask.decode(task.encode()) == task
    old = b'{"delivery_id": "d1", "message_id": "m1", "attempt": 0, "priority": 0}'
    assert DeliveryTask.decode(old) == DeliveryTask("d1", "m1")


async def test_gate_takes_turns_between_flows_within_a_rank() -> None:
    gate = PriorityGate(1)
    order: list[str] = []
    await gate.acquire()

    async def waiter(name: str, rank: int, flow: str) -> None:
        async with gate.slot(rank, flow):
            order.append(name)

    tasks = [asyncio.create_task(waiter(f"a{i}", 0, "A")) for i in range(5)]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(waiter(f"b{i}", 0, "B")) for i in range(2)]
    tasks.append(asyncio.create_task(waiter("u", 1, "A")))
    await asyncio.sleep(0)
    gate.release()
    await asyncio.gather(*tasks)
    # Urgent first; then B's waiters take turns with A's backlog instead of queueing behind it.
    assert order == ["u", "a0", "b0", "a1", "b1", "a2", "a3", "a4"]
    assert gate.busy == 0


async def test_gate_a_flow_arriving_late_waits_one_turn_not_the_backlog() -> None:
    gate = PriorityGate(2)
    order: list[str] = []
    release = asyncio.Event()

    async def worker(name: str, flow: str) -> None:
        async with gate.slot(0, flow):
            order.append(name)
            await release.wait()

    flood = [asyncio.create_task(worker(f"a{i}", "A")) for i in range(50)]
    await asyncio.sleep(0)
    late = asyncio.create_task(worker("b", "B"))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*flood, late)
    assert order.index("b") <= 3, order[:6]
