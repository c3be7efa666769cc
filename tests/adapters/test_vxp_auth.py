"""Unit tests of the VXP door's decisions: profiles, networks, several secrets, duplicate
header names, the hash-file forms and the error-class table (adapters/vxp/)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from multidict import CIMultiDict

from adapters.vxp import errors as vxp
from adapters.vxp.accounts import SystemAccounts
from adapters.vxp.auth import SystemRecord, authenticate, check_network, parse_networks
from adapters.vxp.mailbox import packet_as_sent
from adapters.vxp.sdk_wire import SdkHeaderMap, sdk_file_hash, sdk_timestamp
from adapters.vxp.signing import VIETNAM, ReplayGuard
from edxml import errors as edxml
from gateway import errors as core

NOW = datetime(2024, 3, 5, 9, 7, 3, 42_000, tzinfo=VIETNAM)
SKEW = timedelta(minutes=5)


def record(profile: str = "sdk", networks: tuple[str, ...] = (), **kw: object) -> SystemRecord:
    secrets = kw.pop("secrets", ("s3cret",))
    return SystemRecord(
        "SYS1",
        secrets,  # type: ignore[arg-type]
        frozenset({"000.00.00.G22"}),
        profile=profile,
        allowed_networks=parse_networks(networks),
    )


def signed(
    params: dict[str, str] | None = None,
    *,
    at: datetime = NOW,
    zone: object = VIETNAM,
    secret: str = "s3cret",
) -> CIMultiDict[str]:
    headers = SdkHeaderMap("SYS1", sdk_timestamp(at, zone))  # type: ignore[arg-type]
    for name, value in (params or {}).items():
        headers.put(name, value)
    return CIMultiDict(headers.signed_headers(secret))


def run(headers: CIMultiDict[str], system: SystemRecord, *, remote: str = "127.0.0.1", guard=None):
    return authenticate(
        headers, remote, {"SYS1": system}.get, now=NOW, skew=SKEW, replay_guard=guard
    )


@pytest.mark.parametrize("age", [timedelta(0), timedelta(hours=6), timedelta(days=30)])
@pytest.mark.parametrize("zone", [VIETNAM, UTC])
def test_sdk_profile_accepts_any_age_in_either_zone(age: timedelta, zone: object) -> None:
    request, system = run(signed(at=NOW - age, zone=zone), record("sdk"))
    assert system.id == "SYS1" and request.system_id == "SYS1"


def test_sdk_profile_serves_repeats() -> None:
    guard, headers = ReplayGuard(), signed({"servicetype": "eDoc"})
    for _ in range(3):
        run(headers, record("sdk"), guard=guard)


def test_sdk_profile_refuses_the_future_under_both_readings() -> None:
    run(signed(at=NOW + timedelta(minutes=4)), record("sdk"))
    with pytest.raises(core.AuthExpired):
        run(signed(at=NOW + timedelta(minutes=6)), record("sdk"))


def test_strict_profile_refuses_utc_stale_and_replayed() -> None:
    with pytest.raises(core.AuthExpired):
        run(signed(zone=UTC), record("strict"))
    with pytest.raises(core.AuthExpired):
        run(signed(at=NOW - timedelta(minutes=6)), record("strict"))
    guard, headers = ReplayGuard(), signed()
    run(headers, record("strict"), guard=guard)
    with pytest.raises(core.AuthReplay):
        run(headers, record("strict"), guard=guard)


def test_any_of_several_secrets_is_accepted() -> None:
    rotating = record(secrets=("new-secret", "old-secret"))
    run(signed(secret="old-secret"), rotating)
    run(signed(secret="new-secret"), rotating)
    with pytest.raises(core.AuthError):
        run(signed(secret="other"), rotating)


def test_accounts_keep_every_secret_of_a_system() -> None:
    @dataclass
    class Rotating:
        id: str = "SYS1"
        secret: str = "new-secret"
        secrets: tuple[str, ...] = ("old-secret",)
        agencies: tuple[str, ...] = ("000.00.00.G22",)
        policy: str = "legacy"
        profile: str = "strict"
        allowed_networks: tuple[str, ...] = ("10.0.0.0/8",)

    accounts = SystemAccounts([Rotating()])
    found = accounts.record("SYS1")
    assert found is not None and found.secrets == ("new-secret", "old-secret")
    assert found.profile == "strict" and str(found.allowed_networks[0]) == "10.0.0.0/8"
    assert accounts.check_secret("SYS1", "old-secret").system_id == "SYS1"


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [("10.1.2.3", True), ("10.2.0.1", False), ("::ffff:10.1.0.9", True), ("bogus", False)],
)
def test_allowed_networks(remote: str, allowed: bool) -> None:
    system = record(networks=("10.1.0.0/16", "2001:db8::/32"))
    if allowed:
        check_network(system, remote)
    else:
        with pytest.raises(core.NetworkNotAllowed):
            check_network(system, remote)
    check_network(record(), remote)  # no list: any address


def test_two_values_of_one_header_name_are_matched_by_value() -> None:
    headers = signed({"docId": "first", "docid": "second"})
    assert sorted(headers.getall("XroadVnpt-DOCID")) == ["first", "second"]
    request, _ = run(headers, record())
    assert request.get("docId") == "first" and request.get("docid") == "second"
    swapped = CIMultiDict(
        (k, {"first": "second", "second": "first"}.get(v, v)) for k, v in headers.items()
    )
    run(swapped, record())  # the same two values under one name: still as signed
    tampered = CIMultiDict((k, "third" if v == "second" else v) for k, v in headers.items())
    with pytest.raises(core.AuthError, match="not sent as signed"):
        run(tampered, record())


def test_hash_file_forms_and_the_trailing_crlf() -> None:
    packet = next(p for i in range(500) if len(sdk_file_hash(p := f"packet {i}".encode())) < 64)
    short = sdk_file_hash(packet)
    assert len(short) < 64  # Integer.toHexString drops the zero of each byte below 0x10
    assert packet_as_sent(packet + b"\r\n", short) == packet
    assert packet_as_sent(packet, short) == packet
    assert packet_as_sent(packet + b"\r\n", hashlib.sha256(packet).hexdigest()) == packet
    with_crlf = packet + b"\r\n"
    assert packet_as_sent(with_crlf, sdk_file_hash(with_crlf)) == with_crlf
    with pytest.raises(core.FileHashMismatch):
        packet_as_sent(packet + b"\r\n\r\n", short)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (core.AuthReplay(), "15"),
        (core.NetworkNotAllowed(), "15"),
        (core.Forbidden(), "15"),
        (core.SenderNotAllowed(), "19"),
        (core.RecipientNotAllowed(), "23"),
        (core.CodeUnknown(), "18"),
        (core.AgencyInactive(), "23"),
        (core.AgencyDissolved(), "23"),
        (core.FileHashMismatch(), "10"),
        (core.PayloadTooLarge(), "10"),
        (core.RequestInvalid(), "10"),
        (core.BrokerError(), "20"),
        (core.DuplicateMessage(), "20"),
        (core.MaintenanceMode(), "20"),
        (edxml.NotWellFormed(), "22"),
        (edxml.SignatureInvalid(), "22"),
        (edxml.LimitExceeded(), "10"),
        (edxml.AttachmentBomb(), "21"),
        (ValueError(), "20"),
    ],
)
def test_error_codes_follow_the_class_mro(error: BaseException, code: str) -> None:
    assert vxp.vxp_error_code(error) == code


def test_a_new_subclass_inherits_its_parents_number() -> None:
    class AgencyFrozen(core.AgencyInactive):
        code = "AGENCY_FROZEN"

    assert vxp.vxp_error_code(AgencyFrozen()) == "23"
    body = vxp.fail_body(AgencyFrozen())
    assert {k: type(v) for k, v in body.items()} == dict.fromkeys(
        ("status", "ErrorCode", "ErrorDesc", "code"), str
    )


def test_readable_replaces_every_null() -> None:
    assert vxp.readable({"a": None, "b": [None, {"c": None}], "d": 0}) == {
        "a": "",
        "b": ["", {"c": ""}],
        "d": 0,
    }
