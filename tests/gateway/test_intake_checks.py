"""The edXML checks of intake give the same answers in a worker process as inline."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from edxml.build import build, new_document
from edxml.errors import EdxmlError
from edxml.model import Code, Organization
from gateway.core.intake_checks import CheckPool, run_checks

NOW = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)


def packet() -> bytes:
    return build(
        new_document(
            sender=Organization(organ_id="000.00.00.G22"),
            to=[Organization(organ_id="000.00.00.H41")],
            code=Code("12", "VPCP-TH"),
            subject="Kiểm tra ở tiến trình phụ",
            promulgation_date=date(2026, 1, 5),
        )
    )


async def test_worker_result_equals_inline_result() -> None:
    raw = packet()
    inline, _ = run_checks(raw, "legacy", (), NOW)
    checked, timings = await CheckPool((), workers=1).check(raw, "legacy", NOW)
    assert checked == inline
    assert checked.verification.status == "unverified-legacy"
    assert set(timings) == {"parse", "schema", "signature"}


async def test_refusal_from_a_worker_is_the_same_error() -> None:
    bad = b"<edXML><unclosed></edXML>"
    with pytest.raises(EdxmlError) as inline:
        run_checks(bad, "legacy", (), NOW)
    with pytest.raises(EdxmlError) as pooled:
        await CheckPool((), workers=1).check(bad, "legacy", NOW)
    assert type(pooled.value) is type(inline.value)
    assert pooled.value.code == inline.value.code
    assert str(pooled.value) == str(inline.value)
    assert pooled.value.text_en == inline.value.text_en


async def test_strict_policy_refuses_an_unsigned_packet_in_a_worker() -> None:
    with pytest.raises(EdxmlError) as refused:
        await CheckPool((), workers=1).check(packet(), "strict", NOW)
    assert refused.value.code.startswith("SIGNATURE")
