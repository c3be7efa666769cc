"""Fairness at intake: the real app over loopback HTTP, real RabbitMQ, SQLite store.

A duplicate is recognised by its hash before any check runs; a large packet is checked on
its own lane so small packets sent after it are answered first; a flood of refused
requests is audited record by record in batched transactions, the chain intact, while a
legitimate document still goes through.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import sqlite3
import time
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edxml.build import build, new_document
from edxml.model import Attachment, Code, Organization
from gateway import appkeys
from gateway.audit import batch as audit_batch
from gateway.audit.chain import verify_chain
from gateway.credentials.auth import sign_request
from tests.integration.gateway_node import running_node, settings_for
from tests.world import G22, H41, SECRETS, document

pytestmark = pytest.mark.integration


async def post(
    session: aiohttp.ClientSession, base: str, packet: bytes, system: str = "SYS-G22"
) -> tuple[int, dict[str, Any]]:
    headers = sign_request(system, SECRETS[system], "POST", "/v1/messages", packet)
    async with session.post(base + "/v1/messages", data=packet, headers=headers) as response:
        return response.status, await response.json()


def large_document(megabytes: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        # A real PDF header: the content check refuses a .pdf that is not one.
        body = b"%PDF-1.4\n" + os.urandom(megabytes * 2**20) + b"\n%%EOF\n"
        zf.writestr("ho-so.pdf", body)
    encoded = base64.b64encode(buf.getvalue()).decode()
    envelope = new_document(
        sender=Organization(organ_id=G22, organ_name="Văn phòng Chính phủ"),
        to=[Organization(organ_id=H41, organ_name="UBND tỉnh Nghệ An")],
        code=Code("LON1", "VPCP-TTĐT"),
        subject="Hồ sơ dung lượng lớn",
        promulgation_date=date(2024, 1, 5),
        attachments=[Attachment("cid:1", "ho-so.zip", "Hồ sơ", "application/zip", encoded)],
    )
    return build(envelope)


async def test_duplicate_is_answered_from_its_hash_without_a_second_check(
    tmp_path: Path, amqp_url: str
) -> None:
    async with running_node(settings_for(tmp_path, amqp_url)) as server:
        intake = server.app[appkeys.GATEWAY].intake
        checks: list[int] = []
        original_check = intake.check_async

        async def counting(raw: bytes, policy: str, now: Any) -> Any:
            checks.append(len(raw))
            return await original_check(raw, policy, now)

        intake.check_async = counting
        packet = document("D1")
        async with aiohttp.ClientSession() as session:
            base = str(server.make_url(""))
            first_status, first = await post(session, base, packet)
            again_status, again = await post(session, base, packet)
        assert (first_status, again_status) == (202, 200)  # 200: the duplicate
        assert len(checks) == 1, "the duplicate was checked again"
        assert again["message_id"] == first["message_id"] and again["duplicate"] is True
        assert intake.original_of("SYS-G22", first["content_sha256"]) == first["message_id"]
        assert intake.original_of("SYS-H41", first["content_sha256"]) is None
        with sqlite3.connect(tmp_path / "store.db") as conn:
            assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


async def test_small_packets_pass_a_large_one_being_checked(tmp_path: Path, amqp_url: str) -> None:
    settings = settings_for(tmp_path, amqp_url, admission={"large_packet_bytes": 2**20})
    big = large_document(24)
    async with running_node(settings) as server, aiohttp.ClientSession() as session:
        base = str(server.make_url(""))
        await post(session, base, document("WARM"))  # start the small lane's worker
        done: dict[str, float] = {}

        async def timed(name: str, packet: bytes) -> None:
            status, body = await post(session, base, packet)
            assert status == 202, body
            done[name] = time.monotonic()

        intake = server.app[appkeys.GATEWAY].intake
        checking = asyncio.Event()
        original_check = intake.check_async

        async def watched(raw: bytes, policy: str, now: Any) -> Any:
            if len(raw) <= 2**20:
                return await original_check(raw, policy, now)
            checking.set()
            try:
                return await original_check(raw, policy, now)
            finally:
                done["large checked"] = time.monotonic()

        intake.check_async = watched
        large = asyncio.create_task(timed("large", big))
        await asyncio.wait_for(checking.wait(), 60)  # uploaded; its check starts now
        await asyncio.gather(*(timed(f"s{i}", document(f"S{i}")) for i in range(5)))
        await large
    # On one FIFO worker the small ones could not even be checked before the large one.
    assert max(done[f"s{i}"] for i in range(5)) < done["large checked"], done


async def test_refusal_flood_is_audited_in_batches_and_a_document_still_passes(
    tmp_path: Path, amqp_url: str
) -> None:
    junk = 300
    async with running_node(settings_for(tmp_path, amqp_url)) as server:
        base = str(server.make_url(""))
        async with aiohttp.ClientSession() as session:

            async def bad() -> int:
                headers = {"X-Edoc-System": "SYS-G22", "X-Edoc-Signature": "bad"}
                async with session.post(base + "/v1/messages", data=b"x", headers=headers) as r:
                    return r.status

            flood = [bad() for _ in range(junk)]
            results = await asyncio.gather(*flood, post(session, base, document("OK1")))
        statuses, (good_status, _) = results[:junk], results[junk]
        assert set(statuses) == {401} and good_status == 202
        engine = server.app[appkeys.ENGINE]
        await audit_batch.flush(engine)
        with sqlite3.connect(tmp_path / "store.db") as conn:
            refused = conn.execute(
                "SELECT count(*) FROM audit_log WHERE event = 'rejected'"
            ).fetchone()[0]
            received = conn.execute(
                "SELECT count(*) FROM audit_log WHERE event = 'received'"
            ).fetchone()[0]
        assert (refused, received) == (junk, 1)
        async with engine.connect() as conn:
            assert await verify_chain(conn) == []
