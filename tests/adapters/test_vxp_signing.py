"""Tests of the VXP ``XroadVnpt-`` header signing (adapters/vxp/signing.py)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import pytest

from adapters.vxp import signing
from adapters.vxp.errors import fail_body, ok_body, vxp_error_code
from adapters.vxp.signing import (
    VIETNAM,
    ReplayGuard,
    file_hash_matches,
    format_timestamp,
    hmac_hex,
    parse_timestamp,
    sdk_file_hash,
    sign_headers,
    verify_request,
)
from edxml.errors import NotWellFormed, SchemaInvalid
from gateway.errors import (
    AgencyInactive,
    AuthError,
    AuthExpired,
    AuthReplay,
    CodeUnknown,
    SenderNotAllowed,
)

NOW = datetime(2024, 3, 5, 9, 7, 3, 42_000, tzinfo=VIETNAM)
SECRETS = {"SYS1": "s3cret-ếđ", "SYS2": "other"}


def test_timestamp_has_the_sdk_layout() -> None:
    assert format_timestamp(NOW) == "05032024T090703+0042"


def test_timestamp_is_rendered_in_vietnam_time() -> None:
    from datetime import UTC

    assert format_timestamp(NOW.astimezone(UTC)) == "05032024T090703+0042"


def test_timestamp_round_trips() -> None:
    assert parse_timestamp("05032024T090703+0042") == NOW


@pytest.mark.parametrize("bad", ["", "2024-03-05T09:07:03", "05032024T090703+abcd", "3203"])
def test_bad_timestamps_are_refused(bad: str) -> None:
    with pytest.raises(AuthExpired):
        parse_timestamp(bad)


def test_hmac_is_lower_case_hex_sha256() -> None:
    import hmac as std_hmac

    expected = std_hmac.new(b"k", b"msg", hashlib.sha256).hexdigest()
    assert hmac_hex("k", "msg") == expected
    assert expected == expected.lower()


def test_sign_headers_shape() -> None:
    headers = sign_headers(
        {"from": "000.00.00.G22", "servicetype": "eDoc"},
        system_id="SYS1",
        secret=SECRETS["SYS1"],
        now=NOW,
    )
    signed = json.loads(headers["XroadVnpt-sign-header"])
    assert signed == {
        "XroadVnpt-systemid": "SYS1",
        "XroadVnpt-timestamp": "05032024T090703+0042",
        "XroadVnpt-from": "000.00.00.G22",
        "XroadVnpt-servicetype": "eDoc",
    }
    assert " " not in headers["XroadVnpt-sign-header"]
    # Java HashMap order (checked against a JVM in tests/test_sdk_client_java.py), each name
    # followed by ';' as the SDK appends it.
    assert headers["XroadVnpt-sign-header-key"] == "systemid;servicetype;from;timestamp;"
    assert list(signed) == [
        "XroadVnpt-systemid",
        "XroadVnpt-servicetype",
        "XroadVnpt-from",
        "XroadVnpt-timestamp",
    ]
    assert headers["XroadVnpt-hash-header"] == hmac_hex(
        SECRETS["SYS1"], headers["XroadVnpt-sign-header"]
    )
    assert headers["XroadVnpt-from"] == "000.00.00.G22"
    assert headers["XroadVnpt-version"] == "3.0.201608"
    assert headers["User-Agent"] == "JAVASDKAgent/1.0.0 XRoad/VPCP"


def test_verify_accepts_a_good_request() -> None:
    headers = sign_headers({"docId": "42"}, system_id="SYS1", secret=SECRETS["SYS1"], now=NOW)
    request = verify_request(headers, SECRETS.get, now=NOW + timedelta(seconds=30))
    assert request.system_id == "SYS1"
    assert request.get("docid") == "42"
    assert request.timestamp == NOW


def test_verify_uses_the_sign_header_as_received() -> None:
    # Gson escapes '=' as \u003d and orders keys as it likes: the HMAC covers the raw string.
    raw = (
        '{"XroadVnpt-timestamp":"05032024T090703+0042","XroadVnpt-note":"a\\u003db",'
        '"XroadVnpt-systemid":"SYS1"}'
    )
    headers = {
        "XroadVnpt-sign-header": raw,
        "XroadVnpt-hash-header": hmac_hex(SECRETS["SYS1"], raw),
        "XroadVnpt-sign-header-key": "timestamp;note;systemid",
        "XroadVnpt-timestamp": "05032024T090703+0042",
        "XroadVnpt-note": "a=b",
        "XroadVnpt-systemid": "SYS1",
    }
    assert verify_request(headers, SECRETS.get, now=NOW).get("note") == "a=b"


def test_wrong_secret_is_refused() -> None:
    headers = sign_headers({}, system_id="SYS1", secret="wrong", now=NOW)
    with pytest.raises(AuthError, match="hash-header"):
        verify_request(headers, SECRETS.get, now=NOW)


def test_unknown_system_is_refused() -> None:
    headers = sign_headers({}, system_id="NOPE", secret="x", now=NOW)
    with pytest.raises(AuthError, match="unknown system"):
        verify_request(headers, SECRETS.get, now=NOW)


def test_tampered_parameter_header_is_refused() -> None:
    headers = sign_headers({"docId": "42"}, system_id="SYS1", secret=SECRETS["SYS1"], now=NOW)
    headers["XroadVnpt-docId"] = "43"
    with pytest.raises(AuthError, match="signed but not sent"):
        verify_request(headers, SECRETS.get, now=NOW)


def test_missing_signature_headers_are_refused() -> None:
    headers = sign_headers({}, system_id="SYS1", secret=SECRETS["SYS1"], now=NOW)
    del headers["XroadVnpt-hash-header"]
    with pytest.raises(AuthError):
        verify_request(headers, SECRETS.get, now=NOW)


def test_non_json_sign_header_is_refused() -> None:
    headers = {"XroadVnpt-sign-header": "{not json", "XroadVnpt-hash-header": "00"}
    with pytest.raises(AuthError, match="not JSON"):
        verify_request(headers, SECRETS.get, now=NOW)


def test_sign_header_key_must_match() -> None:
    headers = sign_headers({"docId": "1"}, system_id="SYS1", secret=SECRETS["SYS1"], now=NOW)
    headers["XroadVnpt-sign-header-key"] = "systemid;timestamp"
    with pytest.raises(AuthError, match="sign-header-key"):
        verify_request(headers, SECRETS.get, now=NOW)


@pytest.mark.parametrize("offset", [timedelta(minutes=6), timedelta(minutes=-6)])
def test_stale_or_future_timestamp_is_refused(offset: timedelta) -> None:
    headers = sign_headers({}, system_id="SYS1", secret=SECRETS["SYS1"], now=NOW + offset)
    with pytest.raises(AuthExpired):
        verify_request(headers, SECRETS.get, now=NOW)


def test_replayed_request_is_refused() -> None:
    guard = ReplayGuard()
    headers = sign_headers({"docId": "1"}, system_id="SYS1", secret=SECRETS["SYS1"], now=NOW)
    verify_request(headers, SECRETS.get, now=NOW, replay_guard=guard)
    with pytest.raises(AuthReplay):
        verify_request(headers, SECRETS.get, now=NOW, replay_guard=guard)


def test_other_request_with_the_same_timestamp_is_not_a_replay() -> None:
    guard = ReplayGuard()
    for doc in ("1", "2"):
        headers = sign_headers({"docId": doc}, system_id="SYS1", secret=SECRETS["SYS1"], now=NOW)
        verify_request(headers, SECRETS.get, now=NOW, replay_guard=guard)


def test_replay_guard_forgets_after_its_window() -> None:
    guard = ReplayGuard(window=timedelta(seconds=10))
    guard.check_and_remember("k", clock=lambda: 100.0)
    with pytest.raises(AuthReplay):
        guard.check_and_remember("k", clock=lambda: 105.0)
    guard.check_and_remember("k", clock=lambda: 200.0)


def test_replay_guard_is_bounded() -> None:
    guard = ReplayGuard(max_entries=3)
    for key in "abcd":
        guard.check_and_remember(key, clock=lambda: 1.0)
    assert len(guard) <= 3


def test_sdk_file_hash_drops_leading_zeros_like_java() -> None:
    for n in range(64):
        data = f"packet {n}".encode()
        digest = hashlib.sha256(data).digest()
        if any(byte < 0x10 for byte in digest):
            break
    expected = "".join(format(b, "x") for b in digest)
    assert sdk_file_hash(data) == expected
    assert len(expected) < 64
    assert file_hash_matches(expected, data)
    assert file_hash_matches(hashlib.sha256(data).hexdigest().upper(), data)
    assert not file_hash_matches(expected, data + b"!")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (AuthError(), "15"),
        (AuthReplay(), "15"),
        (CodeUnknown(), "18"),
        (SenderNotAllowed(), "19"),
        (AgencyInactive(), "23"),
        (SchemaInvalid(), "22"),
        (NotWellFormed(), "22"),
        (RuntimeError("boom"), "20"),
    ],
)
def test_error_table(error: Exception, code: str) -> None:
    assert vxp_error_code(error) == code
    body = fail_body(error)
    assert body["status"] == "FAIL"
    assert body["ErrorCode"] == code


def test_unexpected_errors_do_not_leak() -> None:
    body = fail_body(RuntimeError("secret path /etc/x"))
    assert "/etc/x" not in json.dumps(body)


def test_ok_body_shape() -> None:
    assert ok_body(DocId="7") == {
        "status": "OK",
        "ErrorCode": "0",
        "ErrorDesc": "Success",
        "DocId": "7",
    }


def test_module_constants() -> None:
    assert signing.PREFIX == "XroadVnpt-"
