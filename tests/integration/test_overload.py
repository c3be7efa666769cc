"""Overload is refused, not queued (gateway/core/admission.py): the real app, real RabbitMQ.

A flood beyond the bounds of documents in flight gets immediate refusals (REST 503 with
Retry-After, VXP FAIL ErrorCode 20, bilingual text), each audited once in batched records
with the chain intact; another calling system keeps its share; every accepted document is
delivered; an urgent document is delivered on its own lane.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edxml.build import build, new_document
from edxml.model import Code, Organization, OtherInfo
from gateway import appkeys
from gateway.audit import batch as audit_batch
from gateway.audit.chain import verify_chain
from gateway.core.admission import SHED
from gateway.credentials.auth import sign_request
from tests.integration.gateway_node import running_node, settings_for
from tests.vxp_client import VxpTestClient
from tests.world import AGENCIES, G22, H41, SECRETS, document

pytestmark = pytest.mark.integration

FLOOD = 40
WAIT_S = 90.0
H17 = "000.00.00.H17"
LIMITS = {"max_in_flight": 6, "per_system": 3, "retry_after_s": 2, "urgent_reserve": 4}


async def post(
    session: aiohttp.ClientSession, base: str, system: str, packet: bytes
) -> tuple[int, dict[str, Any], str | None]:
    headers = sign_request(system, SECRETS[system], "POST", "/v1/messages", packet)
    async with session.post(base + "/v1/messages", data=packet, headers=headers) as response:
        return response.status, await response.json(), response.headers.get("Retry-After")


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


async def wait_delivered(db: Path, count: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while loop.time() < deadline:
        done = rows(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'")[0][0]
        if done >= count:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"fewer than {count} deliveries delivered")


async def test_flood_is_shed_at_once_and_the_other_system_keeps_its_share(
    tmp_path: Path, amqp_url: str
) -> None:
    settings = settings_for(tmp_path, amqp_url, admission=LIMITS)
    shed_before = sum(SHED.labels(scope=s)._value.get() for s in ("process", "system"))
    async with running_node(settings) as server, aiohttp.ClientSession() as session:
        base = str(server.make_url(""))
        flood = [post(session, base, "SYS-G22", document(f"F{i}")) for i in range(FLOOD)]
        other = [
            post(session, base, "SYS-H41", document(f"O{i}", sender=H41, to=(G22,)))
            for i in range(3)
        ]
        urgent = [
            post(session, base, "SYS-G22", urgent_document(f"U{i}", 3, to=H41)) for i in range(3)
        ]
        answers = await asyncio.gather(*flood, *other, *urgent)
        flooded, others = answers[:FLOOD], answers[FLOOD : FLOOD + 3]
        # Urgent documents of the flooding system itself are taken on the urgent reserve.
        assert [a[0] for a in answers[FLOOD + 3 :]] == [202, 202, 202]

        refused = [a for a in flooded if a[0] == 503]
        accepted = [a for a in flooded if a[0] == 202]
        assert refused and accepted and len(refused) + len(accepted) == FLOOD
        for _, body, retry_after in refused:
            assert body["error"]["code"] == "OVERLOADED"
            assert "bận" in body["error"]["message_vi"] and "busy" in body["error"]["message_en"]
            assert retry_after == "2"
        # The flooding system holds at most its share: the other one is never refused.
        assert [a[0] for a in others] == [202, 202, 202]

        await wait_delivered(tmp_path / "store.db", len(accepted) + 6)
        await audit_batch.flush(server.app[appkeys.ENGINE])  # the refusals queued, committed
        audited = rows(
            tmp_path / "store.db", "SELECT count(*) FROM audit_log WHERE outcome = 'OVERLOADED'"
        )[0][0]
        assert audited == len(refused)
        async with server.app[appkeys.ENGINE].connect() as conn:
            assert await verify_chain(conn) == []
    shed_after = sum(SHED.labels(scope=s)._value.get() for s in ("process", "system"))
    assert shed_after - shed_before == len(refused)


async def test_vxp_flood_answers_fail_with_error_code_20(tmp_path: Path, amqp_url: str) -> None:
    settings = settings_for(tmp_path, amqp_url, admission=LIMITS)
    async with running_node(settings) as server, aiohttp.ClientSession() as session:
        client = VxpTestClient(session, str(server.make_url("/vxp")), "SYS-G22", SECRETS["SYS-G22"])
        answers = await asyncio.gather(
            *(client.send_edoc(document(f"V{i}"), sender=G22) for i in range(FLOOD))
        )
    busy = [a for a in answers if a["status"] == "FAIL"]
    assert busy and len(busy) < FLOOD
    for answer in busy:
        assert answer["ErrorCode"] == "20", answer
        assert "bận" in answer["ErrorDesc"] and "busy" in answer["ErrorDesc"]
    assert all(a["ErrorCode"] == "0" for a in answers if a["status"] == "OK")


def urgent_document(number: str, priority: int, to: str = H17) -> bytes:
    envelope = new_document(
        sender=Organization(organ_id=G22, organ_name="Văn phòng Chính phủ"),
        to=[Organization(organ_id=to, organ_name="Đơn vị nhận")],
        code=Code(number, "VPCP-TTĐT"),
        subject=f"Văn bản hỏa tốc số {number}",
        promulgation_date=date(2024, 1, 5),
    )
    header = dataclasses.replace(envelope.header, other_info=OtherInfo(priority=priority))
    return build(dataclasses.replace(envelope, header=header))


async def test_urgent_document_is_published_on_the_urgent_lane(
    tmp_path: Path, amqp_url: str
) -> None:
    # A push recipient: mailbox deliveries need no task (they are delivered at commit).
    push = {"endpoint_kind": "push", "endpoint_url": "http://127.0.0.1:9/in"}
    agencies = [*AGENCIES, {"code": H17, "name": "UBND tỉnh Hòa Bình", **push}]
    settings = settings_for(tmp_path, amqp_url, directory={"agencies": agencies})
    async with running_node(settings, with_workers=False) as server, aiohttp.ClientSession() as s:
        base = str(server.make_url(""))
        status, receipt, _ = await post(s, base, "SYS-G22", urgent_document("H1", 3))
        assert status == 202, receipt
        status, _, _ = await post(s, base, "SYS-G22", urgent_document("N1", 1))
        assert status == 202
        broker = server.app[appkeys.BROKER]
        connection = broker._connection
        channel = await connection.channel()
        names = broker.names  # the lanes' shard of the sending system
        shard = names.shard_of("SYS-G22")
        urgent = await channel.get_queue(names.work_queue("urgent", shard), ensure=False)
        normal = await channel.get_queue(names.work_queue("normal", shard), ensure=False)
        got_urgent = await urgent.get(timeout=10)
        got_normal = await normal.get(timeout=10)
        assert got_urgent.message_id == receipt["recipients"][0]["delivery_id"]
        assert got_normal.message_id != got_urgent.message_id
        await got_urgent.nack(requeue=True)
        await got_normal.nack(requeue=True)
        await channel.close()
        assert rows(tmp_path / "store.db", "SELECT priority FROM messages ORDER BY priority") == [
            (1,),
            (3,),
        ]
