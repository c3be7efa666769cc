"""Authentication profiles, refusals and their audit records at the VXP door, through the
SDK-faithful client against a real gateway (loopback HTTP, real RabbitMQ).

- ``sdk`` profile: a frozen timestamp of any age, a UTC-stamping JVM and repeats are served;
  a timestamp in the future beyond the skew under both readings is refused;
- ``strict`` profile: ±skew in Vietnam time and a replay cache (a UTC stamp is refused);
- ``allowed_networks``: refused with ErrorCode 15;
- every refusal is readable by the SDK (status, ErrorCode, ErrorDesc strings; DocId "" on
  sendEdoc; the sendEdoc answer ASCII-escaped) and leaves exactly one audit record with door
  ``vxp``, the claimed system and the code;
- what the SDK signs is enforced: a signed ``hash-file`` matching the body, each operation's
  own parameters among the signed headers; unsigned copies are ignored.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.sdk_node import MAX_PACKET, SDK_SECRETS, SdkNode, start_sdk_node
from tests.sdk_client import VIETNAM, SdkResult, SdkService, http_exchange, sdk_hash_file
from tests.world import G22, H41, LOCKED, document

pytestmark = pytest.mark.integration


@pytest.fixture
async def node(tmp_path: Path, amqp_url: str) -> AsyncIterator[SdkNode]:
    async for running in start_sdk_node(tmp_path, amqp_url):
        yield running


def service(node: SdkNode, system: str, **kw: object) -> SdkService:
    secret = str(kw.pop("secret", None) or SDK_SECRETS[system])
    return SdkService(node.http, node.vxp, system, secret, **kw)  # type: ignore[arg-type]


def refused(result: SdkResult, code: str) -> SdkResult:
    assert result.failure is None, f"the SDK could not read the refusal: {result}"
    assert result.status == "FAIL" and result.error_code == code, result
    assert result.error_desc and " / " in result.error_desc, "Vietnamese / English"
    return result


def one_audit(node: SdkNode, before: int, code: str, system: str) -> dict:
    records = node.audit(before)
    assert len(records) == 1, records
    record = records[0]
    assert record["outcome"] == code, record
    detail = record["detail"]
    assert detail.get("door", detail.get("via")) == "vxp", record
    assert system in (record["actor"], detail.get("claimed_system")), record
    return record


async def test_sdk_profile_serves_frozen_utc_and_repeated_timestamps(node: SdkNode) -> None:
    for zone in (VIETNAM, UTC):
        days_old = service(node, "SYS-G22", zone=zone, now=datetime.now(UTC) - timedelta(days=3))
        for _ in range(3):  # byte-identical signed headers each time
            answer = await days_old.get_received_edoc_list()
            assert answer.status == "OK" and answer.error_code == "0", answer
        assert len({r.headers for r in days_old.sent}) == 1


async def test_sdk_profile_refuses_a_timestamp_from_the_future(node: SdkNode) -> None:
    before = node.last_seq()
    # 8 h ahead in Vietnam time is 8 h ahead read as Vietnam time and 15 h read as UTC.
    ahead = service(node, "SYS-G22", now=datetime.now(UTC) + timedelta(hours=8))
    refused(await ahead.get_received_edoc_list(), "15")
    one_audit(node, before, "AUTH_TIMESTAMP", "SYS-G22")


async def test_strict_profile_refuses_utc_stamps_and_replays(node: SdkNode) -> None:
    vietnam = service(node, "SYS-G22-STRICT")
    remembered = len(node.replays)
    first = await vietnam.get_received_edoc_list()
    assert first.status == "OK", first
    # One replay cache per process: the VXP door records in the native API's.
    assert len(node.replays) == remembered + 1
    await node.native("SYS-G22", "GET", "/v1/inbox")
    assert len(node.replays) == remembered + 2
    before = node.last_seq()
    refused(await vietnam.get_received_edoc_list(), "15")  # same object: same signature
    one_audit(node, before, "AUTH_REPLAY", "SYS-G22-STRICT")

    before = node.last_seq()
    refused(await service(node, "SYS-G22-STRICT", zone=UTC).get_agencies_list(), "15")
    one_audit(node, before, "AUTH_TIMESTAMP", "SYS-G22-STRICT")
    accepted = await service(node, "SYS-G22", zone=UTC).get_agencies_list()
    assert accepted.status == "OK", "the same UTC stamp under the sdk profile"


async def test_allowed_networks(node: SdkNode) -> None:
    before = node.last_seq()
    refused(await service(node, "SYS-G22-NET").get_received_edoc_list(), "15")
    record = one_audit(node, before, "NETWORK_NOT_ALLOWED", "SYS-G22-NET")
    assert record["detail"]["remote"] == "127.0.0.1"
    allowed = await service(node, "SYS-H41").get_received_edoc_list()
    assert allowed.status == "OK", "loopback is in SYS-H41's networks"


@pytest.mark.parametrize(
    ("case", "code", "outcome", "system"),
    [
        ("unknown recipient", "18", "CODE_UNKNOWN", "SYS-G22"),
        ("sender not registered", "19", "SENDER_NOT_ALLOWED", "SYS-H41"),
        ("recipient locked", "23", "AGENCY_INACTIVE", "SYS-G22"),
        ("not well-formed", "22", "EDXML_NOT_WELL_FORMED", "SYS-G22"),
        ("hash-file mismatch", "10", "FILE_HASH_MISMATCH", "SYS-G22"),
        ("too large", "10", "PAYLOAD_TOO_LARGE", "SYS-G22"),
        ("wrong secret", "15", "AUTH_FAILED", "SYS-G22"),
        ("unknown system", "15", "AUTH_FAILED", "SYS-NOBODY"),
    ],
)
async def test_send_refusals_are_readable_and_audited_once(
    node: SdkNode, case: str, code: str, outcome: str, system: str
) -> None:
    secret = "not-the-secret" if case in ("wrong secret", "unknown system") else None
    sdk = service(node, system, **({"secret": secret} if secret else {}))
    before = node.last_seq()
    if case == "unknown recipient":
        result = await sdk.send_edoc(document("7401", to=["000.00.00.H63"]), sender=G22)
    elif case == "sender not registered":
        result = await sdk.send_edoc(document("7402"), sender=G22)
    elif case == "recipient locked":
        result = await sdk.send_edoc(document("7403", to=[LOCKED]), sender=G22)
    elif case == "not well-formed":
        result = await sdk.send_edoc(b"<edXMLEnvelope><unclosed>", sender=G22)
    elif case == "too large":
        result = await sdk.send_edoc(b"<x>" + b"a" * MAX_PACKET + b"</x>", sender=G22)
    elif case == "hash-file mismatch":
        result = await _send_with_hash(node, sdk, document("7404"), sdk_hash_file(b"other"))
    else:
        result = await sdk.send_edoc(document("7405"), sender=G22)
    refused(result, code)
    assert result.doc_id == "", "DocId is always there, empty on a refusal"
    assert any(ord(c) > 127 for c in result.error_desc or ""), "Vietnamese survives US-ASCII"
    one_audit(node, before, outcome, system)


async def _send_with_hash(node: SdkNode, sdk: SdkService, packet: bytes, claimed: str):
    params = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc", "hash-file": claimed}
    headers = sdk.wire_headers("application/octet-stream", params)
    status, body = await http_exchange(f"{node.vxp}/sendEdoc", "POST", headers, packet + b"\r\n")
    assert status == 200
    answer = json.loads(body.decode("ascii"))
    return SdkResult(answer["status"], answer["ErrorCode"], answer["ErrorDesc"], answer["DocId"])


async def test_the_body_as_sent_is_accepted_too(node: SdkNode) -> None:
    # A client that hashes what it sends (no CRLF appended) is also accepted.
    sdk = service(node, "SYS-G22")
    packet = document("7406")
    params = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"}
    params["hash-file"] = sdk_hash_file(packet)
    headers = sdk.wire_headers("application/octet-stream", params)
    status, body = await http_exchange(f"{node.vxp}/sendEdoc", "POST", headers, packet)
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "OK" and answer["DocId"], answer


async def test_unsigned_parameters_are_ignored_for_trust(node: SdkNode) -> None:
    sdk = service(node, "SYS-G22")
    packet = b"<anything/>"
    # A signature over no parameters at all, the parameters sent as plain headers.
    headers = sdk.wire_headers("application/octet-stream", {})
    headers += [
        ("XroadVnpt-hash-file", sdk_hash_file(packet)),
        ("XroadVnpt-from", G22),
        ("XroadVnpt-servicetype", "eDoc"),
        ("XroadVnpt-messagetype", "edoc"),
    ]
    before = node.last_seq()
    status, body = await http_exchange(f"{node.vxp}/sendEdoc", "POST", headers, packet)
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "FAIL" and answer["ErrorCode"] == "10", answer
    assert answer["DocId"] == ""
    one_audit(node, before, "REQUEST_INVALID", "SYS-G22")

    # The signed parameters but no signed hash-file: an unsigned one does not count.
    headers = sdk.wire_headers(
        "application/octet-stream", {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"}
    )
    headers.append(("XroadVnpt-hash-file", sdk_hash_file(packet)))
    before = node.last_seq()
    status, body = await http_exchange(f"{node.vxp}/sendEdoc", "POST", headers, packet)
    answer = json.loads(body)
    assert answer["ErrorCode"] == "10" and answer["code"] == "FILE_HASH_MISMATCH", answer
    one_audit(node, before, "FILE_HASH_MISMATCH", "SYS-G22")

    # getEdoc whose docId is not signed.
    fresh = service(node, "SYS-G22")
    headers = [*fresh.wire_headers("application/json", {}), ("XroadVnpt-docId", "abc")]
    status, body = await http_exchange(f"{node.vxp}/getEdoc", "POST", headers, b"{}")
    assert json.loads(body)["ErrorCode"] == "10"


async def test_refusals_on_reads_are_json_and_audited(node: SdkNode, tmp_path: Path) -> None:
    intruder = service(node, "SYS-G22", secret="not-the-secret")
    before = node.last_seq()
    listed = refused(await intruder.get_received_edoc_list(), "15")
    assert listed.answer_was_json, "a received-list refusal is JSON, never text"
    one_audit(node, before, "AUTH_FAILED", "SYS-G22")

    before = node.last_seq()
    refused(await service(node, "SYS-H41").get_edoc("no-such-document", tmp_path), "10")
    one_audit(node, before, "NOT_FOUND", "SYS-H41")

    before = node.last_seq()
    refused(await service(node, "SYS-H41").update_status("x", "03"), "10")
    one_audit(node, before, "REQUEST_INVALID", "SYS-H41")

    headers = service(node, "SYS-G22").wire_headers("application/json", {"servicetype": "eDoc"})
    status, body = await http_exchange(f"{node.vxp}/getReceivedEdocList", "PUT", headers, b"")
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "FAIL" and answer["ErrorCode"] == "10"


async def test_answers_never_carry_null(node: SdkNode) -> None:
    sdk = service(node, "SYS-G22")
    headers = sdk.wire_headers(
        "application/octet-stream",
        {
            "from": G22,
            "servicetype": "eDoc",
            "messagetype": "edoc",
            "hash-file": sdk_hash_file(packet := document("7407", to=[H41])),
        },
    )
    status, body = await http_exchange(f"{node.vxp}/sendEdoc", "POST", headers, packet + b"\r\n")
    assert status == 200 and body.isascii() and b"null" not in body, body
    assert json.loads(body)["status"] == "OK"
    for op in ("getSentEdocList", "getAgenciesList", "getSynchronizeUnit"):
        headers = service(node, "SYS-G22").wire_headers("application/json", {"servicetype": "eDoc"})
        status, body = await http_exchange(f"{node.vxp}/{op}", "POST", headers, b"")
        answer = json.loads(body)
        assert status == 200 and answer["ErrorCode"] == "0" and answer["data"], (op, answer)
        assert b"null" not in body, (op, body)


async def test_unknown_system_and_wrong_secret_are_answered_alike(node: SdkNode) -> None:
    """The answer does not tell which system ids exist; the audit record keeps the reason."""
    answers = []
    for system in ("SYS-G22", "SYS-NOBODY"):
        before = node.last_seq()
        sdk = service(node, system, secret="not-the-secret")
        result = refused(await sdk.send_edoc(document("7406"), sender=G22), "15")
        answers.append((result.status, result.error_code, result.error_desc))
        reason = one_audit(node, before, "AUTH_FAILED", system)["detail"]["message_en"]
        assert reason.startswith("Authentication failed: "), reason
    assert answers[0] == answers[1]
