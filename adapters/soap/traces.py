"""The hub's status actions: UpdateTraces (a status from a recipient) and GetTraces (the
statuses addressed to the caller).

GetTraces without ``TimeStamp`` returns the statuses this caller has not fetched yet and
acknowledges their deliveries (so they are not returned again; the history itself stays
whole); with ``TimeStamp`` it returns those accepted at or after it and changes nothing.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from adapters.soap.calls import Answer, Call, message_of, off_loop
from adapters.soap.documents import pending_items
from adapters.soap.envelope import report
from edxml.build import build, document_id
from edxml.edoc_vn import read_status
from edxml.edoc_vn_build import element
from edxml.edoc_vn_build import status as status_element
from edxml.model import Code, ResponseFor, StatusMessage
from edxml.parse import parse
from gateway.core import hub_numbers as hub_ids
from gateway.errors import NotFound, RequestInvalid, SenderNotAllowed

VIETNAM = timezone(timedelta(hours=7))
_FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%d/%m/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


async def update_traces(call: Call) -> Answer:
    """UpdateTraces: the ``Status`` becomes a QCVN 102 status packet the core checks against
    the document's state machine (codes 1–6, 13, 15, 16)."""
    node = call.soap.body_child("Status")
    if node is None:
        raise RequestInvalid("UpdateTraces needs a Status in the SOAP Body")
    status = read_status(node)
    if status.sender != call.organ_id:
        raise SenderNotAllowed(f"KeyInfo/OrganId {call.organ_id} is not From {status.sender}")
    status = dataclasses.replace(status, response_for=await _resolve(call, status.response_for))
    await call.ctx.core.submit(build(status), call.caller, via="soap")
    return Answer([report()])


async def _resolve(call: Call, rf: ResponseFor) -> ResponseFor:
    """Name the document by its DocumentId: a numeric hub id is looked up, a missing one is
    built from the sender, promulgation date and ``No/Notation`` code (the convention)."""
    given = (rf.document_id or "").strip()
    if given.isdigit():
        message_id = await message_of(call.ctx, int(given))
        trace = await call.ctx.core.trace(call.caller, message_id)
        return dataclasses.replace(rf, document_id=trace.message.document_id)
    if given:
        return rf
    if rf.organ_id and rf.code and rf.promulgation_date and "/" in rf.code:
        number, _, notation = rf.code.partition("/")
        ident = document_id(rf.organ_id, rf.promulgation_date, Code(number, notation))
        return dataclasses.replace(rf, document_id=ident)
    raise RequestInvalid("ResponseFor needs DocumentId, or OrganId + Code + PromulgationDate")


def _since(text: str) -> datetime:
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=VIETNAM)
        except ValueError:
            continue
    raise RequestInvalid(f"TimeStamp {text!r} is not yyyy/MM/dd HH:mm:ss")


async def _status(call: Call, message_id: str) -> StatusMessage | None:
    raw = await call.ctx.core.fetch(call.caller, message_id)
    packet = await off_loop(len(raw), parse, raw)
    return packet if isinstance(packet, StatusMessage) else None


async def get_traces(call: Call) -> Answer:
    """GetTraces: ``Traces/Status*`` addressed to the caller's agency, newest first."""
    stamp = call.soap.text("TimeStamp")
    found: list[StatusMessage] = []
    if stamp:
        since = _since(stamp)
        for message_id in await hub_ids.statuses_since(call.ctx.engine, call.organ_id, since):
            packet = await _status(call, message_id)
            if packet is not None:
                found.append(packet)
    else:
        items = sorted(
            await pending_items(call, "status"), key=lambda i: i.accepted_at, reverse=True
        )
        for item in items:
            packet = await _status(call, item.message_id)
            if packet is not None:
                found.append(packet)
        for item in items:
            try:
                await call.ctx.core.ack(call.caller, item.message_id)
            except NotFound:
                continue  # acknowledged meanwhile by another request
    traces = element("Traces")
    traces.extend(status_element(packet) for packet in found)
    return Answer([traces])
