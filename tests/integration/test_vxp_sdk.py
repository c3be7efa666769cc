"""Existing QLVB systems, through the SDK-faithful client (tests/sdk_client.py), against a real
gateway (loopback HTTP, real RabbitMQ): every VXP operation in both ways vendors use the SDK
(a fresh service object per call, one long-lived object), the done/fail acknowledgements, and
idempotency under replay (what the ``sdk`` profile relies on)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.sdk_node import SdkNode, start_sdk_node, until
from tests.sdk_client import SdkResult, Vendor, WireRequest, http_exchange
from tests.world import G22, H14, H41, document

pytestmark = pytest.mark.integration
MODES = ["fresh", "long-lived"]


@pytest.fixture
async def node(tmp_path: Path, amqp_url: str) -> AsyncIterator[SdkNode]:
    async for running in start_sdk_node(tmp_path, amqp_url):
        yield running


def ok(result: SdkResult) -> SdkResult:
    assert result.failure is None, result
    assert result.status == "OK" and result.error_code == "0", result
    return result


async def listed(vendor: Vendor, doc_ids: set[str], messagetype: str = "edoc") -> list[dict]:
    async def probe() -> list[dict] | None:
        answer = ok(await vendor.knobstick.get_received_edoc_list(messagetype))
        assert answer.answer_was_json
        found = [i for i in answer.data or [] if i["docId"] in doc_ids]
        return found if {i["docId"] for i in found} == doc_ids else None

    return await until(probe, f"{doc_ids} listed")


async def sent_rows(vendor: Vendor) -> dict[str, dict[str, str]]:
    rows = ok(await vendor.knobstick.get_sent_edoc_list()).data or []
    return {r["senderDocId"]: r for r in rows if r["toCode"] == H41}


@pytest.mark.parametrize("mode", MODES)
async def test_send_list_fetch_acknowledge_three_documents(
    node: SdkNode, mode: str, tmp_path: Path
) -> None:
    g22, h41 = node.vendor("SYS-G22", mode), node.vendor("SYS-H41", mode)
    packets = [document(f"70{i}{len(mode)}") for i in range(3)]
    doc_ids = []
    for packet in packets:
        sent = ok(await g22.knobstick.send_edoc(packet, sender=G22))
        assert sent.doc_id and sent.error_desc
        doc_ids.append(sent.doc_id)
    items = {i["docId"]: i for i in await listed(h41, set(doc_ids))}
    for doc_id in doc_ids:
        assert items[doc_id]["from"] == G22 and items[doc_id]["to"] == H41
        assert items[doc_id]["messageType"] == "edoc" and items[doc_id]["created_time"]
    assert ok(await h41.knobstick.count_receive_edoc()).count == 3

    acks = {doc_ids[0]: "done", doc_ids[1]: "fail", doc_ids[2]: "done"}
    for packet, (doc_id, ack) in zip(packets, acks.items(), strict=True):
        fetched = ok(await h41.knobstick.get_edoc(doc_id, tmp_path / "inbox"))
        assert fetched.file_path is not None and fetched.file_path.name == f"{doc_id}.edxml"
        assert fetched.file_path.read_bytes() == packet, "the file the sender sent, no CRLF"
        assert await h41.knobstick.download_edoc(doc_id) == packet
        ok(await h41.knobstick.update_status(doc_id, ack))
    remaining = ok(await h41.knobstick.get_received_edoc_list()).data or []
    assert not {i["docId"] for i in remaining} & set(doc_ids)
    assert ok(await h41.knobstick.count_receive_edoc()).count == 0

    async def statuses_arrived() -> dict[str, dict[str, str]] | None:
        rows = await sent_rows(g22)
        done = all(rows[d]["receiveStatus"] == "01" for d, a in acks.items() if a == "done")
        return rows if done else None

    rows = await until(statuses_arrived, "status 01 for the acknowledged documents")
    assert rows[doc_ids[0]]["sendStatus"] == "acked"
    assert rows[doc_ids[1]]["sendStatus"] == "fail", "fail refuses the transfer"
    assert rows[doc_ids[1]]["receiveStatus"] == "", "fail never produces status 01"
    assert rows[doc_ids[1]]["receiveStatusDesc"] == ""
    assert all(rows[d]["fromCode"] == G22 and rows[d]["sentTime"] for d in doc_ids)

    # The sender's mailbox holds exactly one status 01 per acknowledged document.
    assert ok(await g22.knobstick.count_receive_status()).count == 2
    status_items = ok(await g22.knobstick.get_received_edoc_list("status")).data or []
    assert len(status_items) == 2 and all(i["from"] == H41 for i in status_items)
    for item in status_items:
        ok(await g22.knobstick.update_status(item["docId"], "done"))
    assert ok(await g22.knobstick.count_receive_status()).count == 0

    trace = await node.native("SYS-G22", "GET", f"/v1/messages/{doc_ids[1]}/trace")
    refused = next(d for d in trace["deliveries"] if d["resolved_code"] == H41)
    assert refused["state"] == "failed" and "refused" in refused["last_error"]
    assert not [s for s in trace["statuses"] if s["recipient_code"] == H41]
    if mode == "long-lived":
        last = h41.sent[-1]
        names = [n.lower() for n, _ in last.headers]
        assert "xroadvnpt-docid" in names and names.count("xroadvnpt-docid") == 2, (
            "a long-lived object carries docId and docid from the second document on"
        )
        assert len({v for n, v in g22.sent[0].headers if n == "XroadVnpt-timestamp"}) == 1
        assert {v for r in g22.sent for n, v in r.headers if n == "XroadVnpt-timestamp"} == {
            next(v for n, v in g22.sent[0].headers if n == "XroadVnpt-timestamp")
        }, "the timestamp is frozen at construction"


@pytest.mark.parametrize("mode", MODES)
async def test_directory_operations(node: SdkNode, mode: str) -> None:
    vendor = node.vendor("SYS-G22", mode)
    agencies = {a["code"]: a for a in ok(await vendor.agency.get_agencies_list()).data or []}
    assert agencies[G22]["oldCode"] == "G22" and agencies[G22]["name"] == "Văn phòng Chính phủ"
    assert agencies[H14]["oldCode"] == "" and agencies[H14]["mail"] == ""
    qd20 = {a["code"]: a for a in ok(await vendor.agency.get_agencies_list_qd20()).data or []}
    assert qd20[H41]["code102"] == "H41"
    units = {u["code"]: u for u in ok(await vendor.agency.get_synchronize_unit()).data or []}
    assert set(units) >= {G22, H41, H14}
    unit = units[H41]
    assert unit["deleted"] == "false" and unit["isAgency"] == "true"
    assert int(unit["version"]) >= 1, "the version of the change set that added it"
    assert unit["modifyDate"][:2] == "20" and unit["centerCode"] == G22
    for refused in (
        await vendor.agency.register_agency({"code": "000.00.01.G22", "name": "Vụ mới"}),
        await vendor.agency.delete_agency("000.00.01.G22"),
    ):
        assert refused.failure is None and refused.status == "FAIL"
        assert refused.error_code == "15" and "/" in (refused.error_desc or "")


async def _replay(node: SdkNode, request: WireRequest) -> Any:
    """Send the exact bytes of an earlier SDK request again (a resend, or an eavesdropper)."""
    status, body = await http_exchange(
        f"{node.vxp}/{request.op}", request.method, request.headers, request.body
    )
    assert status == 200
    return json.loads(body)


async def test_every_operation_is_idempotent_under_replay(node: SdkNode, tmp_path: Path) -> None:
    g22, h41 = node.vendor("SYS-G22"), node.vendor("SYS-H41")
    packet = document("7301")
    doc_id = ok(await g22.knobstick.send_edoc(packet, sender=G22)).doc_id
    send_request = g22.sent[-1]
    for _ in range(3):
        again = await _replay(node, send_request)
        assert again["status"] == "OK" and again["DocId"] == doc_id
    assert node.count("SELECT COUNT(*) FROM messages WHERE kind = 'document'") == 1
    assert node.count("SELECT COUNT(*) FROM deliveries WHERE message_id = ?", doc_id) == 1

    await listed(h41, {doc_id})
    list_request = h41.sent[-1]
    first = await _replay(node, list_request)
    assert first == await _replay(node, list_request), "reads return the same data"
    assert [i["docId"] for i in first["data"]] == [doc_id], "delivered once"

    ok(await h41.knobstick.get_edoc(doc_id, tmp_path))
    ok(await h41.knobstick.update_status(doc_id, "done"))
    done_request = h41.sent[-1]
    for _ in range(3):
        assert (await _replay(node, done_request))["status"] == "OK"

    async def one_status() -> int:
        return node.count("SELECT COUNT(*) FROM status_history WHERE status_code = 1")

    await until(one_status, "status 01")
    await until(lambda: _count_status(g22), "the 01 status in the sender's mailbox")
    for _ in range(3):
        assert (await _replay(node, done_request))["status"] == "OK"
    assert await one_status() == 1, "a repeated done sends no second 01"
    assert ok(await g22.knobstick.count_receive_status()).count == 1

    other = ok(await g22.knobstick.send_edoc(document("7302"), sender=G22)).doc_id
    await listed(h41, {other})
    ok(await h41.knobstick.update_status(other, "fail"))
    fail_request = h41.sent[-1]
    for _ in range(3):
        assert (await _replay(node, fail_request))["status"] == "OK"
    trace = await node.native("SYS-G22", "GET", f"/v1/messages/{other}/trace")
    assert [d["state"] for d in trace["deliveries"]] == ["failed"]
    assert not trace["statuses"]
    ok(await h41.knobstick.update_status(other, "done"))  # a late done changes nothing
    assert await one_status() == 1


async def _count_status(vendor: Vendor) -> int:
    return ok(await vendor.knobstick.count_receive_status()).count or 0
