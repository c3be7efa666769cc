"""Tests of gateway.core.intake with a real SQLite store and a recording broker stand-in.

The broker is replaced here (its own tests use a real RabbitMQ) so that these tests can
observe what intake publishes and simulate a broker that refuses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from edxml.build import build, new_document, status_message
from edxml.errors import EdxmlError
from edxml.model import Business, BusinessDocType, Code, Organization, ResponseFor, StatusCode
from gateway.audit.chain import AuditRecord
from gateway.core.calendar import VIETNAM, OfficeCalendar
from gateway.core.intake import Intake
from gateway.credentials.auth import Caller
from gateway.delivery.broker import DeliveryTask
from gateway.directory.resolver import InMemoryDirectory
from gateway.errors import BrokerError, DocumentUnknown, GatewayError, SenderNotAllowed
from gateway.store import repository as repo
from gateway.store.blobs import FileBlobStore
from gateway.store.database import create_engine, create_schema, transaction
from gateway.store.models import Delivery, Message

G22, H41, H17 = "000.00.00.G22", "000.00.00.H41", "000.00.00.H17"
SENDER = Caller("SYS-G22", frozenset({G22}))
RECEIVER = Caller("SYS-H41", frozenset({H41}))
# Wednesday 2026-03-04 20:00 in Hà Nội: outside office hours.
EVENING = datetime(2026, 3, 4, 20, 0, tzinfo=VIETNAM)


@dataclass
class RecordingBroker:
    fail: bool = False
    published: list[DeliveryTask] = field(default_factory=list)

    async def publish(self, tasks: list[DeliveryTask]) -> None:
        if self.fail:
            raise BrokerError("broker down (test)")
        self.published.extend(tasks)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    await create_schema(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def broker() -> RecordingBroker:
    return RecordingBroker()


@pytest.fixture
async def intake(
    engine: AsyncEngine, broker: RecordingBroker, tmp_path: Path
) -> AsyncIterator[Intake]:
    directory = InMemoryDirectory.from_records(
        [
            {"code": G22, "name": "Văn phòng Chính phủ"},
            {"code": H41, "name": "UBND tỉnh Nghệ An"},
            {
                "code": H17,
                "name": "UBND tỉnh Hòa Bình",
                "endpoint_kind": "push",
                "endpoint_url": "http://127.0.0.1:9/in",
            },
        ]
    )
    gate = Intake(
        engine=engine,
        blobs=FileBlobStore(tmp_path / "blobs"),
        broker=broker,
        directory=directory,
        calendar=OfficeCalendar(),
        trust_anchors=(),
        max_bytes=1024 * 1024,
        node_code=G22,
        clock=lambda: EVENING.astimezone(UTC),
    )
    yield gate
    await gate.close()


def document(number: str = "1", to: tuple[str, ...] = (H41, H17), **kw: object) -> bytes:
    packet = new_document(
        sender=Organization(organ_id=G22),
        to=[Organization(organ_id=c) for c in to],
        code=Code(number, "VPCP-TH"),
        subject="Thử nghiệm tiếp nhận",
        promulgation_date=date(2026, 1, 5),
    )
    return build(packet)


async def count(engine: AsyncEngine, table: type) -> int:
    async with transaction(engine) as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_accept_stores_routes_and_publishes(
    intake: Intake, broker: RecordingBroker, engine: AsyncEngine
) -> None:
    receipt = await intake.accept(document(), SENDER)
    assert receipt.kind == "document" and receipt.sender == G22
    assert receipt.signature["status"] == "unverified-legacy"
    assert receipt.legal_receipt_at == datetime(2026, 3, 5, 8, 0, tzinfo=VIETNAM)
    assert {r["resolved_code"]: r["endpoint"] for r in receipt.recipients} == {
        H41: "mailbox",
        H17: "push",
    }
    # The mailbox is delivered by the commit itself; only the push goes through RabbitMQ.
    assert {r["resolved_code"]: r["state"] for r in receipt.recipients} == {
        H41: "delivered",
        H17: "published",
    }
    assert {t.message_id for t in broker.published} == {receipt.message_id}
    push = next(r for r in receipt.recipients if r["endpoint"] == "push")
    assert [t.delivery_id for t in broker.published] == [push["delivery_id"]]
    # The calling system travels with the task: it picks the shard of the lane.
    assert [t.sender for t in broker.published] == [SENDER.system_id]
    await intake.flush()
    async with transaction(engine) as conn:
        rows = await repo.deliveries_for(conn, receipt.message_id)
    assert {r.resolved_code: r.state for r in rows} == {H41: "delivered", H17: "published"}
    assert all(r.delivered_seq for r in rows if r.resolved_code == H41)
    assert await count(engine, AuditRecord) == 1


async def test_duplicate_returns_the_original_receipt(
    intake: Intake, broker: RecordingBroker, engine: AsyncEngine
) -> None:
    first = await intake.accept(document(), SENDER)
    again = await intake.accept(document(), SENDER)
    assert again.duplicate and again.message_id == first.message_id
    assert await count(engine, Message) == 1
    assert await count(engine, Delivery) == 2
    assert len(broker.published) == 1  # the push; the mailbox needs no task


async def test_broker_down_still_gives_a_receipt(
    intake: Intake, broker: RecordingBroker, engine: AsyncEngine
) -> None:
    broker.fail = True
    receipt = await intake.accept(document(), SENDER)
    assert {r["endpoint"]: r["state"] for r in receipt.recipients} == {
        "mailbox": "delivered",
        "push": "pending",
    }
    async with transaction(engine) as conn:
        waiting = await repo.unpublished(conn, older_than=datetime.now(UTC), limit=10)
    assert {d.message_id for d in waiting} == {receipt.message_id}


@pytest.mark.parametrize(
    ("raw", "caller", "error"),
    [
        (document(), RECEIVER, SenderNotAllowed),
        (b"<edXML", SENDER, EdxmlError),
        (document(to=("000.00.00.H63",)), SENDER, GatewayError),
    ],
    ids=["not-sender", "not-xml", "unknown-recipient"],
)
async def test_refusal_leaves_only_an_audit_record(
    intake: Intake,
    broker: RecordingBroker,
    engine: AsyncEngine,
    raw: bytes,
    caller: Caller,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await intake.accept(raw, caller)
    assert await count(engine, Message) == 0
    assert await count(engine, Delivery) == 0
    assert await count(engine, AuditRecord) == 1
    assert broker.published == []


async def test_status_travels_back_and_follows_the_state_machine(
    intake: Intake, broker: RecordingBroker, engine: AsyncEngine
) -> None:
    receipt = await intake.accept(document(), SENDER)
    doc = ResponseFor(organ_id=G22, document_id=receipt.document_id)

    def status(code: StatusCode, sender: str = H41) -> bytes:
        return build(status_message(sender=Organization(organ_id=sender), document=doc, code=code))

    first = await intake.accept(status(StatusCode.ARRIVED), RECEIVER)
    assert first.kind == "status"
    assert [r["resolved_code"] for r in first.recipients] == [G22]
    assert first.related_message_id == receipt.message_id
    await intake.accept(status(StatusCode.ACCEPTED), RECEIVER)
    with pytest.raises(GatewayError) as info:
        await intake.accept(status(StatusCode.DONE), RECEIVER)
    assert info.value.code == "STATUS_TRANSITION"
    async with transaction(engine) as conn:
        history = await repo.status_history(conn, receipt.message_id)
    assert [(h.recipient_code, h.status_code) for h in history] == [(H41, 1), (H41, 3)]


async def test_status_for_an_unknown_document_is_refused(intake: Intake) -> None:
    doc = ResponseFor(organ_id=G22, document_id="000.00.00.G22,2026/01/05,999/VPCP-TH")
    raw = build(status_message(sender=Organization(organ_id=H41), document=doc, code=1))
    with pytest.raises(DocumentUnknown):
        await intake.accept(raw, RECEIVER)


async def test_recall_records_13_and_answer_15(intake: Intake, engine: AsyncEngine) -> None:
    original = await intake.accept(document("7", to=(H41,)), SENDER)
    packet = new_document(
        sender=Organization(organ_id=G22),
        to=[Organization(organ_id=H41)],
        code=Code("8", "VPCP-TH"),
        subject="Thu hồi văn bản",
        promulgation_date=date(2026, 1, 6),
    )
    business = Business(
        document_id=original.document_id, doc_type=BusinessDocType.RECALL, reason="Thu hồi"
    )
    recall = await intake.accept(build(replace(packet, business=business)), SENDER)
    assert recall.related_message_id == original.message_id
    doc = ResponseFor(organ_id=G22, document_id=original.document_id)
    agreed = status_message(sender=Organization(organ_id=H41), document=doc, code=15)
    await intake.accept(build(agreed), RECEIVER)
    async with transaction(engine) as conn:
        history = await repo.status_history(conn, original.message_id)
    assert [h.status_code for h in history] == [13, 15]
    late = status_message(sender=Organization(organ_id=H41), document=doc, code=3)
    with pytest.raises(GatewayError):
        await intake.accept(build(late), RECEIVER)


async def test_status_from_a_stranger_is_answered_as_an_unknown_document(intake: Intake) -> None:
    """An agency that neither sent nor received a document learns nothing of it: its status
    is refused exactly as a status for a DocumentId that does not exist."""
    receipt = await intake.accept(document(to=(H41,)), SENDER)
    stranger = Caller("SYS-H17", frozenset({H17}))

    def status_for(document_id: str) -> bytes:
        doc = ResponseFor(organ_id=G22, document_id=document_id)
        return build(status_message(sender=Organization(organ_id=H17), document=doc, code=1))

    missing = "000.00.00.G22,2026/01/05,999/VPCP-TH"
    with pytest.raises(GatewayError) as real:
        await intake.accept(status_for(receipt.document_id), stranger)
    with pytest.raises(GatewayError) as absent:
        await intake.accept(status_for(missing), stranger)
    assert type(real.value) is type(absent.value) is DocumentUnknown
    assert real.value.text_en.replace(receipt.document_id, "ID") == absent.value.text_en.replace(
        missing, "ID"
    )
    assert real.value.path == absent.value.path
