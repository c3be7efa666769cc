"""Admission bounds (gateway/core/admission.py) and the priority gate
(gateway/delivery/priority_gate.py)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.core.admission import SHED, Admission, Limits, claims_urgent
from gateway.delivery.priority_gate import PriorityGate
from gateway.errors import Overloaded


def test_process_and_system_bounds_refuse_and_count() -> None:
    admission = Admission(Limits(max_in_flight=3, per_system=2, retry_after_s=5))
    before = SHED.labels(scope="system")._value.get()
    admission.enter("A")
    admission.enter("A")
    with pytest.raises(Overloaded) as refused:
        admission.enter("A")
    assert refused.value.code == "OVERLOADED" and refused.value.retry_after_s == 5
    assert refused.value.http_status == 503
    assert SHED.labels(scope="system")._value.get() == before + 1
    admission.enter("B")  # another system still has its share
    with pytest.raises(Overloaded):
        admission.enter("C")  # the process is full
    admission.leave("A")
    admission.enter("C")
    assert admission.in_flight == 3


def test_admit_releases_its_place_on_error() -> None:
    admission = Admission(Limits(max_in_flight=1, per_system=1))
    with pytest.raises(RuntimeError), admission.admit("A"):
        raise RuntimeError("boom")
    with admission.admit("A"):
        assert admission.in_flight == 1
    assert admission.in_flight == 0


def test_zero_disables_a_bound() -> None:
    admission = Admission(Limits(max_in_flight=0, per_system=0))
    for _ in range(1000):
        admission.enter("A")
    assert admission.in_flight == 1000


async def test_gate_admits_higher_rank_first_then_fifo() -> None:
    gate = PriorityGate(1)
    order: list[str] = []
    await gate.acquire()

    async def waiter(name: str, rank: int) -> None:
        async with gate.slot(rank):
            order.append(name)

    tasks = [asyncio.create_task(waiter(n, r)) for n, r in (("n1", 0), ("u1", 1), ("n2", 0))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(waiter("u2", 1)))
    await asyncio.sleep(0)
    assert gate.waiting == 4
    gate.release()
    await asyncio.gather(*tasks)
    assert order == ["u1", "u2", "n1", "n2"]
    assert gate.busy == 0


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    gate = PriorityGate(1)
    await gate.acquire()
    stuck = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    gate.release()
    await asyncio.wait_for(gate.acquire(), 1)
    assert gate.busy == 1


def test_urgent_documents_have_a_reserve_above_both_bounds() -> None:
    admission = Admission(Limits(max_in_flight=2, per_system=1, urgent_reserve=2))
    admission.enter("A")
    with pytest.raises(Overloaded):
        admission.enter("A")
    admission.enter("A", urgent=True)
    admission.enter("A", urgent=True)
    with pytest.raises(Overloaded):
        admission.enter("A", urgent=True)
    assert admission.in_flight == 3


def test_urgency_is_read_from_the_header_bytes() -> None:
    assert claims_urgent(b"<edXML:OtherInfo><edXML:Priority>3</edXML:Priority>")
    assert claims_urgent(b"<Priority> 2 </Priority>")
    assert not claims_urgent(b"<edXML:Priority>1</edXML:Priority>")
    assert not claims_urgent(b"<Subject>Priority</Subject>")
    assert not claims_urgent(b" " * 70_000 + b"<Priority>4</Priority>")  # beyond the header
