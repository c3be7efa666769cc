"""gateway.core.access: one place decides who speaks for which agency, whether intake is open,
whether a sender may send and whether each recipient accepts from it; intake uses it (real
SQLite store, recording broker)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gateway.audit.chain import AuditRecord
from gateway.core.access import Access, normal_code
from gateway.core.intake import Intake
from gateway.core.operations import inbox_cursor
from gateway.credentials.auth import Caller
from gateway.directory import changes as directory_ops
from gateway.directory import store as directory_store
from gateway.directory.resolver import InMemoryDirectory
from gateway.errors import (
    AgencyDissolved,
    AgencyInactive,
    MaintenanceMode,
    RecipientNotAllowed,
    RequestInvalid,
    SenderNotAllowed,
)
from gateway.ops.health import Maintenance
from gateway.store.database import transaction
from gateway.store.models import Message
from tests.gateway import test_intake as base
from tests.gateway.test_intake import G22, H17, H41, SENDER, document

# The intake fixtures of the intake tests (real SQLite store, recording broker).
engine, broker, intake = base.engine, base.broker, base.intake

SUSPENDED, DISSOLVED, UNLISTED = "000.00.00.H62", "000.00.00.H63", "000.00.00.H64"


def directory() -> InMemoryDirectory:
    return InMemoryDirectory.from_records(
        [
            {"code": G22, "name": "Văn phòng Chính phủ", "systems": "SYS-BOUND"},
            {"code": H41, "name": "UBND tỉnh Nghệ An"},
            {"code": SUSPENDED, "name": "Đơn vị tạm dừng", "status": "suspended"},
            {"code": DISSOLVED, "name": "Đơn vị giải thể", "status": "dissolved"},
        ]
    )


def test_speaks_for_unites_configuration_and_directory_in_one_form() -> None:
    access = Access(directory())
    caller = Caller("SYS-BOUND", frozenset({" 000.00.00.h41 "}))
    assert access.speaks_for(caller) == {G22, H41}
    assert access.may_act_for(caller, "000.00.00.g22")
    assert not access.may_act_for(caller, SUSPENDED)
    assert normal_code(" 000.00.00.g22") == G22


def test_sender_must_be_spoken_for_and_live() -> None:
    access = Access(directory())
    with pytest.raises(SenderNotAllowed):
        access.check_sender(Caller("SYS-X", frozenset({H41})), G22)
    access.check_sender(Caller("SYS-X", frozenset({G22})), G22)
    access.check_sender(Caller("SYS-X", frozenset({UNLISTED})), UNLISTED)  # not in directory
    with pytest.raises(AgencyInactive) as inactive:
        access.check_sender(Caller("SYS-X", frozenset({SUSPENDED})), SUSPENDED)
    assert inactive.value.path == "From/OrganId"
    with pytest.raises(AgencyDissolved):
        access.check_sender(Caller("SYS-X", frozenset({DISSOLVED})), DISSOLVED)


def test_maintenance_closes_intake() -> None:
    maintenance = Maintenance()
    access = Access(directory(), maintenance)
    access.check_intake_open()
    maintenance.switch_on("nâng cấp", by="admin")
    with pytest.raises(MaintenanceMode) as info:
        access.check_intake_open()
    assert info.value.code == "MAINTENANCE"
    assert info.value.message_vi and info.value.message_en
    maintenance.switch_off()
    access.check_intake_open()


async def test_intake_refuses_during_maintenance_and_audits_once(intake: Intake) -> None:
    maintenance = Maintenance()
    intake.access = Access(intake.directory, maintenance)
    maintenance.switch_on("nâng cấp")
    with pytest.raises(MaintenanceMode):
        await intake.accept(document("7"), SENDER)
    async with transaction(intake.engine) as conn:
        rows = (await conn.execute(select(AuditRecord.outcome))).scalars().all()
    assert list(rows).count("MAINTENANCE") == 1
    maintenance.switch_off()
    receipt = await intake.accept(document("7"), SENDER)
    assert not receipt.duplicate


async def test_intake_refuses_a_suspended_sender(intake: Intake) -> None:
    suspended = InMemoryDirectory.from_records(
        [{"code": G22, "name": "Văn phòng Chính phủ", "status": "suspended"}]
    )
    intake.directory.put_many(suspended)  # type: ignore[attr-defined]
    with pytest.raises(AgencyInactive):
        await intake.accept(document("8"), SENDER)


@pytest.mark.parametrize("after", ["9" * 40, "+5", "١٢", "1_000", "-1"])
def test_inbox_cursor_out_of_range_or_misspelt_is_a_clean_refusal(after: str) -> None:
    with pytest.raises(RequestInvalid) as info:
        inbox_cursor(after)
    assert info.value.code == "REQUEST_INVALID"


def test_inbox_cursor_accepts_what_the_inbox_returns() -> None:
    assert inbox_cursor(None) is None and inbox_cursor("") is None
    assert inbox_cursor(str(2**63 - 1)) == str(2**63 - 1)


CLOSED = "000.00.00.H58"  # receives only from G22 and from the 000.01. tree


def closed_directory() -> InMemoryDirectory:
    return InMemoryDirectory.from_records(
        [
            {"code": G22, "name": "Văn phòng Chính phủ"},
            {"code": H41, "name": "UBND tỉnh Nghệ An"},
            {"code": CLOSED, "name": "Đơn vị khép kín", "accepts_from": "000.00.00.g22; 000.01."},
            {"code": "000.00.00.H57", "name": "Tên cũ", "status": "merged", "successors": CLOSED},
        ]
    )


def test_a_recipient_accepts_everyone_unless_the_directory_lists_its_senders() -> None:
    access = Access(closed_directory())
    access.check_recipients(H41, [(G22, G22)])  # no accepts_from: every sender
    access.check_recipients(" 000.00.00.g22 ", [(CLOSED, CLOSED)])  # listed, any spelling
    access.check_recipients("000.01.05.A01", [(CLOSED, CLOSED)])  # under a listed prefix
    with pytest.raises(RecipientNotAllowed) as info:
        access.check_recipients(H41, [(G22, G22), ("000.00.00.H57", CLOSED)])
    error = info.value
    assert error.code == "RECIPIENT_NOT_ALLOWED" and error.http_status == 403
    assert error.path == "000.00.00.H57"  # the code the packet named (merged into CLOSED)
    assert error.message_vi and error.message_en and CLOSED in str(error)


async def test_intake_refuses_a_recipient_closed_to_the_sender_and_audits_once(
    intake: Intake,
) -> None:
    intake.directory.put_many(  # type: ignore[attr-defined]
        InMemoryDirectory.from_records(
            [{"code": H17, "name": "UBND tỉnh Hòa Bình", "accepts_from": "000.00.00.H41"}]
        )
    )
    with pytest.raises(RecipientNotAllowed):
        await intake.accept(document("10"), SENDER)
    async with transaction(intake.engine) as conn:
        rows = (await conn.execute(select(AuditRecord.outcome))).scalars().all()
        stored = await conn.scalar(select(func.count()).select_from(Message))
    assert list(rows) == ["RECIPIENT_NOT_ALLOWED"] and stored == 0
    receipt = await intake.accept(document("10", to=(H41,)), SENDER)  # H41 accepts everyone
    assert not receipt.duplicate


async def test_accepts_from_travels_through_import_store_and_export(intake: Intake) -> None:
    data = (
        "code,name,accepts_from\n"
        f"{CLOSED},Đơn vị khép kín,000.00.00.G22;000.01.\n"
        f"{H41},UBND tỉnh Nghệ An,\n"
    )
    parsed = directory_ops.parse_import(data, "csv")
    await directory_ops.import_agencies(intake.engine, parsed, actor="test", retire_missing=False)
    async with intake.engine.connect() as conn:
        loaded = {a.code: a for a in await directory_store.load_agencies(conn)}
        one = await directory_store.find_agency(conn, CLOSED)
    assert loaded[CLOSED].accepts_from == ("000.00.00.G22", "000.01.")
    assert one is not None and one.accepts_from == ("000.00.00.G22", "000.01.")
    assert loaded[H41].accepts_from == ()
    reopened = directory_ops.parse_import(
        f'[{{"code": "{CLOSED}", "name": "Đơn vị mở", "accepts_from": []}}]', "json"
    )
    await directory_ops.import_agencies(intake.engine, reopened, actor="test", retire_missing=False)
    async with intake.engine.connect() as conn:
        again = await directory_store.find_agency(conn, CLOSED)
    assert again is not None and again.accepts_from == ()
