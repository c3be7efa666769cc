"""Processing-status state machine (SPEC §4), per (document, recipient).

Legal flow: 01 → (02 | 03) → 04 → 05 → 06, where 04 may be skipped (03 → 05) and 01 may be
skipped by a receiver that registers at once; 01 and 05 may repeat (the gateway emits 01 on
a pull acknowledgement, a receiver may report progress more than once). Recall runs beside
it: 13 (from the original sender, or a document with BussinessDocType 1) → 15 | 16 (from the
recipient); after 15 the document is withdrawn for that recipient and takes no further
status; after 16 a new recall may be requested. Update and replace documents
(BussinessDocType 2, 3) are linked to the earlier document they name.

Pure rules live in :func:`check_transition`; :func:`plan_status` and :func:`plan_business`
read the store inside the caller's transaction and say what to record and where to route.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from edxml.model import BusinessDocType, Envelope, StatusMessage
from gateway.errors import DocumentUnknown, StatusTransitionInvalid
from gateway.store import repository as repo

PROCESSING = frozenset({1, 2, 3, 4, 5, 6})
RECALL_REQUEST = 13
RECALL_ANSWERS = frozenset({15, 16})
_NEXT: dict[int | None, frozenset[int]] = {
    None: frozenset({1, 2, 3}),
    1: frozenset({1, 2, 3}),
    2: frozenset(),
    3: frozenset({4, 5}),
    4: frozenset({5}),
    5: frozenset({5, 6}),
    6: frozenset(),
}


def current_state(history: Sequence[int]) -> tuple[int | None, int | None]:
    """Return (last processing status, last recall status) of a history, oldest first."""
    processing = next((c for c in reversed(history) if c in PROCESSING), None)
    recall = next((c for c in reversed(history) if c not in PROCESSING), None)
    return processing, recall


def check_transition(history: Sequence[int], new: int) -> None:
    """Raise ``StatusTransitionInvalid`` unless status ``new`` may follow ``history``."""
    processing, recall = current_state(history)
    shown = "none" if processing is None else f"{processing:02d}"
    if recall == 15:
        raise StatusTransitionInvalid(f"document was recalled (15); {new:02d} refused")
    if new == RECALL_REQUEST:
        if recall == RECALL_REQUEST:
            raise StatusTransitionInvalid("a recall (13) is already pending")
        return
    if new in RECALL_ANSWERS:
        if recall != RECALL_REQUEST:
            raise StatusTransitionInvalid(f"{new:02d} answers a recall (13), none is pending")
        return
    if new not in PROCESSING:
        raise StatusTransitionInvalid(f"unknown status {new:02d}")
    if new not in _NEXT[processing]:
        raise StatusTransitionInvalid(f"{new:02d} cannot follow {shown}")


@dataclass(frozen=True)
class StatusPlan:
    """What accepting a status packet means: the document, pairs to record, where to route."""

    document: Any  # repository MessageRow of the document the status is about
    record_for: tuple[str, ...]  # recipient codes whose (document, recipient) state changes
    route_to: tuple[str, ...]  # agency codes the status packet is delivered to


async def _find_document(conn: AsyncConnection, document_id: str | None, owner: str | None) -> Any:
    if not document_id:
        raise DocumentUnknown("ResponseFor/DocumentId is missing", path="ResponseFor/DocumentId")
    row = await repo.find_document(conn, document_id=document_id, sender=owner)
    if row is None and owner is not None:
        row = await repo.find_document(conn, document_id=document_id)
    if row is None:
        raise DocumentUnknown(document_id, path="ResponseFor/DocumentId")
    if row.business_doc_type == BusinessDocType.RECALL and row.related_message_id:
        # An answer to a recall packet is about the document it recalls.
        row = await repo.get_message(conn, row.related_message_id) or row
    return row


def _matches(delivery: Any, code: str) -> bool:
    return code in (delivery.recipient_code, delivery.resolved_code)


async def plan_status(conn: AsyncConnection, status: StatusMessage) -> StatusPlan:
    """Check a status packet against its document's state; raise or return the plan."""
    document = await _find_document(conn, status.document_id, status.response_for.organ_id)
    if document.kind != "document":
        raise DocumentUnknown("a status must answer a document", path="ResponseFor/DocumentId")
    code = int(status.status_code)
    deliveries = await repo.deliveries_for(conn, document.id)
    if status.sender != document.sender and not any(_matches(d, status.sender) for d in deliveries):
        # Neither its sender nor a recipient: answered exactly as a document that does not
        # exist, so that a status cannot probe which documents another agency holds.
        raise DocumentUnknown(status.document_id or "", path="ResponseFor/DocumentId")
    if code == RECALL_REQUEST:
        if status.sender != document.sender:
            raise StatusTransitionInvalid("only the original sender may recall (13)")
        targets = tuple(d.recipient_code for d in deliveries)
        route = tuple(d.resolved_code for d in deliveries)
    else:
        mine = [d for d in deliveries if _matches(d, status.sender)]
        if not mine:
            raise StatusTransitionInvalid(
                f"{status.sender} is not a recipient of the document", path="From/OrganId"
            )
        targets = (mine[0].recipient_code,)
        route = (document.sender,)
    pairs = await _pairs(conn, document.id)
    for target in targets:
        check_transition(_history_of(pairs, target), code)
    return StatusPlan(document, targets, route)


async def _pairs(conn: AsyncConnection, document_id: str) -> list[tuple[str, int]]:
    return [(s.recipient_code, s.status_code) for s in await repo.status_history(conn, document_id)]


def _history_of(pairs: list[tuple[str, int]], recipient: str) -> list[int]:
    return [code for who, code in pairs if who == recipient]


@dataclass(frozen=True)
class BusinessPlan:
    """What a recall/update/replace document links to and which recalls it records."""

    related: Any | None  # MessageRow of the earlier document, if this node carried it
    record_recall_for: tuple[str, ...] = ()


async def plan_business(conn: AsyncConnection, envelope: Envelope) -> BusinessPlan:
    """Link a recall/update/replace document to the earlier one; check recall legality."""
    business = envelope.business
    if business is None or business.doc_type == BusinessDocType.NEW:
        return BusinessPlan(None)
    if not business.document_id:
        raise DocumentUnknown("Bussiness/DocumentId is missing", path="Bussiness/DocumentId")
    related = await repo.find_document(
        conn, document_id=business.document_id, sender=envelope.sender
    )
    if related is None:
        if business.doc_type == BusinessDocType.RECALL:
            raise DocumentUnknown(business.document_id, path="Bussiness/DocumentId")
        return BusinessPlan(None)
    if business.doc_type != BusinessDocType.RECALL:
        return BusinessPlan(related)
    deliveries = await repo.deliveries_for(conn, related.id)
    pairs = await _pairs(conn, related.id)
    targets = []
    for code in envelope.recipients:
        match = next((d for d in deliveries if _matches(d, code)), None)
        if match is None:
            raise StatusTransitionInvalid(
                f"{code} did not receive the recalled document", path="To/OrganId"
            )
        check_transition(_history_of(pairs, match.recipient_code), RECALL_REQUEST)
        targets.append(match.recipient_code)
    return BusinessPlan(related, tuple(targets))


async def record(
    conn: AsyncConnection,
    *,
    document_message_id: str,
    recipients: Sequence[str],
    status_code: int,
    status_message_id: str,
    at: datetime,
) -> None:
    """Append one status to the history of each (document, recipient) pair."""
    for recipient in recipients:
        await repo.add_status(
            conn,
            document_message_id=document_message_id,
            recipient_code=recipient,
            status_code=status_code,
            status_message_id=status_message_id,
            at=at,
        )
