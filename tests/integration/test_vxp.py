"""The VXP endpoint of a real gateway (real RabbitMQ, real HTTP), driven by tests/vxp_client.py.

The client is written from SPEC §6 alone; these tests check every operation, the JSON shapes
the axis SDK reads, the ErrorCode numbers, wrong signatures, stale and replayed timestamps.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edxml.build import build, status_message
from edxml.model import Organization, ResponseFor
from tests.integration.gateway_node import Shared, running_node, settings_for
from tests.vxp_client import VN, VxpTestClient, vxp_timestamp
from tests.world import G22, H14, H41, LOCKED, SECRETS, document

pytestmark = pytest.mark.integration

WAIT_S = 90.0


@pytest.fixture
async def endpoint(tmp_path: Path, amqp_url: str) -> AsyncIterator[str]:
    async with running_node(settings_for(tmp_path, amqp_url)) as server:
        yield str(server.make_url("/vxp"))


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
async def strict_g22(
    tmp_path: Path, amqp_url: str, session: aiohttp.ClientSession
) -> AsyncIterator[VxpTestClient]:
    """SYS-G22 under the ``strict`` authentication profile (±skew, replay cache)."""
    systems = [
        {"id": "SYS-G22", "secret": SECRETS["SYS-G22"], "agencies": [G22], "profile": "strict"}
    ]
    async with running_node(settings_for(tmp_path, amqp_url, systems=systems)) as server:
        yield VxpTestClient(session, str(server.make_url("/vxp")), "SYS-G22", SECRETS["SYS-G22"])


@pytest.fixture
def g22(session: aiohttp.ClientSession, endpoint: str) -> VxpTestClient:
    return VxpTestClient(session, endpoint, "SYS-G22", SECRETS["SYS-G22"])


@pytest.fixture
def h41(session: aiohttp.ClientSession, endpoint: str) -> VxpTestClient:
    return VxpTestClient(session, endpoint, "SYS-H41", SECRETS["SYS-H41"])


@pytest.fixture
def shared(shared_dir: Path) -> Shared:
    return Shared(shared_dir)


async def wait_listed(
    client: VxpTestClient, doc_id: str, messagetype: str = "edoc"
) -> dict[str, Any]:
    """Poll getReceivedEdocList until ``doc_id`` shows up (delivery is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        answer = await client.get_received_edoc_list(messagetype)
        assert answer["status"] == "OK", answer
        found = [item for item in answer["data"] if item["docId"] == doc_id]
        if found:
            return found[0]
        assert asyncio.get_running_loop().time() < deadline, f"{doc_id} never listed"
        await asyncio.sleep(0.3)


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["status"] == "OK", answer
    assert answer["ErrorCode"] == "0", answer
    return answer


def fail(answer: dict[str, Any], code: str) -> dict[str, Any]:
    assert answer["status"] == "FAIL", answer
    assert answer["ErrorCode"] == code, answer
    assert answer["ErrorDesc"], answer
    return answer


async def test_document_round_trip_through_every_mailbox_operation(
    g22: VxpTestClient, h41: VxpTestClient, shared: Shared
) -> None:
    packet = shared.real("vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml")
    sent = ok(await g22.send_edoc(packet, sender=G22, to=[H41]))
    doc_id = sent["DocId"]
    assert doc_id

    again = ok(await g22.send_edoc(packet, sender=G22))
    assert again["DocId"] == doc_id, "a duplicate answers the original DocId"

    item = await wait_listed(h41, doc_id)
    assert item["from"] == G22
    assert item["to"] == H41
    assert item["messageType"] == "edoc"
    assert item["serviceType"] == "eDoc"
    assert item["created_time"]

    count = ok(await h41.count_receive_edoc())
    assert count["count"] >= 1

    answer, fetched = await h41.get_edoc(doc_id)
    ok(answer)
    assert fetched == packet, "the exact bytes the sender sent"

    ok(await h41.update_status(doc_id, "processing"))
    assert any(i["docId"] == doc_id for i in (await h41.get_received_edoc_list())["data"])
    ok(await h41.update_status(doc_id, "done"))
    listed = ok(await h41.get_received_edoc_list())
    assert all(i["docId"] != doc_id for i in listed["data"])

    rows = ok(await g22.get_sent_edoc_list())["data"]
    mine = [r for r in rows if r["senderDocId"] == doc_id]
    assert {r["toCode"] for r in mine} >= {H41, H14}
    h41_row = next(r for r in mine if r["toCode"] == H41)
    assert h41_row["fromCode"] == G22
    assert h41_row["sendStatus"] == "acked"


async def test_other_systems_cannot_read_a_document(g22: VxpTestClient, h41: VxpTestClient) -> None:
    doc_id = ok(await g22.send_edoc(document("501", to=[H14]), sender=G22))["DocId"]
    answer, packet = await h41.get_edoc(doc_id)
    assert packet is None
    fail(answer, "10")


async def test_status_packets_travel_with_messagetype_status(
    g22: VxpTestClient, h41: VxpTestClient
) -> None:
    raw = document("502")
    doc_id = ok(await g22.send_edoc(raw, sender=G22))["DocId"]
    await wait_listed(h41, doc_id)
    status = status_message(
        sender=Organization(organ_id=H41, organ_name="UBND tỉnh Nghệ An"),
        document=ResponseFor(organ_id=G22, document_id=f"{G22},2024/01/05,502/VPCP-TTĐT"),
        code=1,
        timestamp=datetime(2024, 1, 6, 9, 0, 0),
    )
    status_id = ok(await h41.send_edoc(build(status), sender=H41, messagetype="status"))["DocId"]
    item = await wait_listed(g22, status_id, messagetype="status")
    assert item["messageType"] == "status"
    assert item["from"] == H41
    edocs = ok(await g22.get_received_edoc_list("edoc"))["data"]
    assert all(i["docId"] != status_id for i in edocs), "messagetype filters the list"


async def test_agency_lists(g22: VxpTestClient) -> None:
    agencies = ok(await g22.get_agencies_list())["data"]
    by_code = {a["code"]: a for a in agencies}
    assert by_code[G22]["oldCode"] == "G22"
    assert by_code[G22]["name"] == "Văn phòng Chính phủ"
    assert {"id", "code", "name", "mail", "pid", "oldCode"} <= set(by_code[H41])
    qd20 = ok(await g22.get_agencies_list(qd20=True))["data"]
    assert {a["code"]: a["code102"] for a in qd20}[H41] == "H41"


async def test_register_and_delete_agency_are_refused_without_a_registry(
    g22: VxpTestClient,
) -> None:
    fail(await g22.register_agency({"code": "000.00.01.G22", "name": "Vụ mới"}), "15")
    fail(await g22.delete_agency("000.00.01.G22"), "15")


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unknown recipient", "18"),
        ("sender not registered", "19"),
        ("recipient locked", "23"),
        ("not well-formed", "22"),
        ("hash-file mismatch", "10"),
    ],
)
async def test_refusals_carry_the_axis_error_codes(
    case: str, code: str, g22: VxpTestClient, h41: VxpTestClient, shared: Shared
) -> None:
    if case == "unknown recipient":
        answer = await g22.send_edoc(document("601", to=["000.00.00.H63"]), sender=G22)
    elif case == "sender not registered":
        answer = await h41.send_edoc(document("602"), sender=G22)
    elif case == "recipient locked":
        answer = await g22.send_edoc(document("603", to=[LOCKED]), sender=G22)
    elif case == "not well-formed":
        packet = shared.malformed("vpcp-template-edoc.edxml")
        answer = await g22.send_edoc(packet, sender=G22)
    else:
        call = g22.prepare(
            "sendEdoc",
            {"from": G22, "servicetype": "eDoc", "messagetype": "edoc", "hash-file": "00ff"},
            body=document("604"),
        )
        answer = await g22.send(call)
    fail(answer, code)


async def test_wrong_secret_is_refused(session: aiohttp.ClientSession, endpoint: str) -> None:
    intruder = VxpTestClient(session, endpoint, "SYS-G22", "not-the-secret")
    fail(await intruder.get_received_edoc_list(), "15")


async def test_unknown_system_is_refused(session: aiohttp.ClientSession, endpoint: str) -> None:
    stranger = VxpTestClient(session, endpoint, "SYS-NOBODY", "x")
    fail(await stranger.get_agencies_list(), "15")


async def test_tampered_signed_header_is_refused(g22: VxpTestClient) -> None:
    call = g22.prepare("getEdoc", {"docId": "abc"})
    call.headers["XroadVnpt-docId"] = "other"
    fail(await g22.send(call), "15")


async def test_missing_signature_is_refused(g22: VxpTestClient) -> None:
    call = g22.prepare("getAgenciesList")
    del call.headers["XroadVnpt-hash-header"]
    fail(await g22.send(call), "15")


async def test_stale_timestamp_is_refused_under_strict(strict_g22: VxpTestClient) -> None:
    stale = vxp_timestamp(datetime.now(VN) - timedelta(hours=1))
    fail(await strict_g22.call("getAgenciesList", timestamp=stale), "15")


async def test_stale_timestamp_is_served_under_sdk(g22: VxpTestClient) -> None:
    stale = vxp_timestamp(datetime.now(VN) - timedelta(days=2))
    ok(await g22.call("getAgenciesList", timestamp=stale))


async def test_malformed_timestamp_is_refused(g22: VxpTestClient) -> None:
    fail(await g22.call("getAgenciesList", timestamp="2024-01-01T00:00:00"), "15")


async def test_replayed_request_is_refused_under_strict(strict_g22: VxpTestClient) -> None:
    call = strict_g22.prepare("getAgenciesList")
    ok(await strict_g22.send(call))
    answer = fail(await strict_g22.send(call), "15")
    assert "phát lại" in answer["ErrorDesc"] or "Replay" in answer["ErrorDesc"]


async def test_repeated_request_is_served_under_sdk(g22: VxpTestClient) -> None:
    call = g22.prepare("getAgenciesList")
    assert ok(await g22.send(call)) == ok(await g22.send(call))


async def test_unknown_transport_ack_is_refused(g22: VxpTestClient) -> None:
    fail(await g22.update_status("whatever", "03"), "10")


async def test_answers_are_json_even_for_garbage(
    session: aiohttp.ClientSession, endpoint: str
) -> None:
    async with session.post(f"{endpoint}/sendEdoc", data=b"\x00\x01") as response:
        assert response.status == 200
        answer = json.loads(await response.text())
    fail(answer, "15")
