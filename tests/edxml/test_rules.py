"""Tests for edxml/rules.py: semantic errors with their own codes, and wire-quirk warnings."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from edxml.errors import (
    WARN_DOCUMENT_ID_DATE,
    WARN_DOCUMENT_ID_FORMAT,
    WARN_DOCUMENT_ID_SENDER,
    CodeInvalid,
    DuplicateRecipient,
    EdxmlError,
    FieldInvalid,
    FutureDate,
    NoRecipient,
    PriorityInvalid,
)
from edxml.model import Code, Envelope, OtherInfo, StatusMessage
from edxml.parse import parse
from edxml.rules import check

TODAY = date(2025, 6, 1)
DC0 = "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"


def _doc(real_dir: Path, name: str = DC0) -> Envelope:
    packet = parse((real_dir / name).read_bytes())
    assert isinstance(packet, Envelope)
    return packet


def _with_header(env: Envelope, **changes: object) -> Envelope:
    return dataclasses.replace(env, header=dataclasses.replace(env.header, **changes))


def _codes(issues: list) -> list[tuple[str, str]]:
    return [(i.code, i.path.rsplit("/", 2)[-2]) for i in issues]


def test_real_packet_warnings(real_dir: Path) -> None:
    # Bussiness/DocumentId holds the impossible date 2014/02/30 in every sample.
    assert _codes(check(_doc(real_dir), today=TODAY)) == [(WARN_DOCUMENT_ID_DATE, "Bussiness")]
    assert _codes(check(_doc(real_dir, "vpcp-sample-edoc_new.edxml"), today=TODAY)) == [
        (WARN_DOCUMENT_ID_SENDER, "MessageHeader"),
        (WARN_DOCUMENT_ID_DATE, "Bussiness"),
    ]
    status = parse((real_dir / "bkav-status_processing_05.edxml").read_bytes())
    assert isinstance(status, StatusMessage)
    assert check(status, today=TODAY) == []


def test_warnings_have_both_languages(real_dir: Path) -> None:
    (issue,) = check(_doc(real_dir), today=TODAY)
    assert "2014/02/30" in issue.message_vi and "2014/02/30" in issue.message_en
    assert issue.message_vi != issue.message_en


def test_document_id_format_warning(real_dir: Path) -> None:
    env = _with_header(_doc(real_dir), document_id="9fbfbad2-f1f8-4256-a2eb-50fb1061cddb")
    assert (WARN_DOCUMENT_ID_FORMAT, "MessageHeader") in _codes(check(env, today=TODAY))


def test_no_recipient(real_dir: Path) -> None:
    with pytest.raises(NoRecipient) as info:
        check(_with_header(_doc(real_dir), to=()), today=TODAY)
    assert info.value.code == "EDXML_NO_RECIPIENT"


def test_duplicate_recipient(real_dir: Path) -> None:
    env = _doc(real_dir)
    with pytest.raises(DuplicateRecipient) as info:
        check(_with_header(env, to=(*env.header.to, env.header.to[0])), today=TODAY)
    assert info.value.path.endswith("To[4]/OrganId")


def test_future_promulgation_date(real_dir: Path) -> None:
    env = _doc(real_dir)  # promulgated 2019/04/11
    with pytest.raises(FutureDate):
        check(env, today=date(2019, 4, 10))
    check(env, today=date(2019, 4, 11))


@pytest.mark.parametrize("priority", [-1, 5, 9])
def test_priority_out_of_range(real_dir: Path, priority: int) -> None:
    env = _with_header(_doc(real_dir), other_info=OtherInfo(priority=priority))
    with pytest.raises(PriorityInvalid):
        check(env, today=TODAY)


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"code": Code("123456789012", "X")}, "CodeNumber"),
        ({"code": Code("1", "")}, "CodeNotation"),
        ({"code": Code("1", "N" * 31)}, "CodeNotation"),
        ({"code": None}, "Code"),
        ({"subject": None}, "Subject"),
        ({"subject": "s" * 501}, "Subject"),
        ({"content": "c" * 501}, "Content"),
    ],
)
def test_field_limits(real_dir: Path, changes: dict, where: str) -> None:
    with pytest.raises(FieldInvalid) as info:
        check(_with_header(_doc(real_dir), **changes), today=TODAY)
    assert info.value.path.endswith(where)


def test_organization_limits_and_codes(real_dir: Path) -> None:
    env = _doc(real_dir)
    long_name = dataclasses.replace(env.header.from_, organ_name="x" * 201)
    with pytest.raises(FieldInvalid) as info:
        check(_with_header(env, from_=long_name), today=TODAY)
    assert info.value.path.endswith("From/OrganName")
    bad_to = dataclasses.replace(env.header.to[1], organ_id="not a code")
    with pytest.raises(CodeInvalid) as code_info:
        check(_with_header(env, to=(env.header.to[0], bad_to)), today=TODAY)
    assert code_info.value.path.endswith("To[2]/OrganId")


def test_business_doc_type_range(real_dir: Path) -> None:
    env = _doc(real_dir)
    assert env.business is not None
    bad = dataclasses.replace(env, business=dataclasses.replace(env.business, doc_type=7))
    with pytest.raises(FieldInvalid):
        check(bad, today=TODAY)


def test_status_needs_response_for_document(real_dir: Path) -> None:
    status = parse((real_dir / "bkav-status_processing_05.edxml").read_bytes())
    assert isinstance(status, StatusMessage)
    rf = dataclasses.replace(status.response_for, document_id=None)
    with pytest.raises(EdxmlError):
        check(dataclasses.replace(status, response_for=rf), today=TODAY)
    rf = dataclasses.replace(status.response_for, document_id="000.00.00.H41,2015/09/31,1/X")
    issues = check(dataclasses.replace(status, response_for=rf), today=TODAY)
    assert {i.code for i in issues} == {WARN_DOCUMENT_ID_DATE, WARN_DOCUMENT_ID_SENDER}
