"""The Bkav eDoc hub SOAP door of a real gateway (loopback HTTP, real RabbitMQ, SQLite):
exchanges.

A SwA SendDocument with a PDF goes from G22 to H41, which lists, fetches and confirms it;
the sender's GetTraces shows status 1 once; bare text/xml, UpdateTraces, GetDocument's
audience, CheckPermission and GetOrganizations, zeep driving the served WSDL, a big
attachment and a resent document. Refusals are in ``test_hub_soap_refusals.py``, the
hub's REST v2 in ``test_hub_rest_v2.py``; the node in ``hub_node.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import zeep

from tests.hub_client import (
    E,
    HubClient,
    credentials,
    decode_part,
    envelope,
    key_info,
    send_document_envelope,
)
from tests.integration.hub_node import (
    NUMBERS,
    PDF,
    Hub,
    send_pdf,
    start_hub,
    wait_pending,
    wait_traces,
)
from tests.world import G22, H41, LOCKED, SECRETS

pytestmark = pytest.mark.integration


@pytest.fixture
async def hub(tmp_path: Path, amqp_url: str) -> AsyncIterator[Hub]:
    async for running in start_hub(tmp_path, amqp_url):
        yield running


async def test_swa_round_trip_pending_get_confirm_traces(hub: Hub) -> None:
    number = await send_pdf(hub)
    receiver = hub.client(H41, "SYS-H41")
    await wait_pending(receiver, number)

    got = await receiver.get_document(number)
    assert got.content_type.startswith("multipart/related")
    assert 'type="text/xml"' in got.content_type
    header = got.envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Header")
    assert header is not None and header.find(f"{{{E}}}MessageHeader") is not None
    refs = got.findall("Manifest/Reference")
    assert len(refs) == 1
    href = refs[0].get("{http://www.w3.org/1999/xlink}href")
    assert href is not None and href.startswith("cid:")
    media, data = got.parts[href[4:]]
    assert media == "application/pdf"
    assert decode_part(data) == PDF  # Base64 text of the file, bytes intact
    whole = json.dumps([str(got.envelope.xpath("string(.)")), list(got.parts)])
    assert SECRETS["SYS-G22"] not in whole
    assert "Token" not in str(got.envelope.xpath("name(//*[local-name()='Token'])"))

    confirmed = await receiver.confirm(number)
    assert confirmed.ok
    assert number not in await receiver.pending()
    again = await receiver.confirm(number)
    assert again.ok  # idempotent: no second status 01

    sender = hub.client(G22, "SYS-G22")
    traces = await wait_traces(sender)
    assert [t["StatusCode"] for t in traces] == ["1"]
    later = await sender.traces()
    assert later.findall("Traces/Status") == []  # fetched: not returned again
    history = await sender.traces("2000/01/01 00:00:00")
    statuses = history.findall("Traces/Status")
    assert [s.findtext(f"{{{E}}}StatusCode") for s in statuses] == ["1"]
    assert statuses[0].findtext(f"{{{E}}}From/{{{E}}}OrganId") == H41
    assert statuses[0].findtext(f"{{{E}}}ResponseFor/{{{E}}}OrganId") == G22
    assert statuses[0].findtext(f"{{{E}}}ResponseFor/{{{E}}}DocumentId", "").startswith(G22)


async def test_bare_text_xml_and_update_traces_follow_the_state_machine(hub: Hub) -> None:
    number = await send_pdf(hub)
    receiver = hub.client(H41, "SYS-H41", multipart=False)
    await wait_pending(receiver, number)
    assert (await receiver.confirm(number)).ok

    async def update(code: int) -> list[str]:
        status = (
            f"<Status><From><OrganId>{H41}</OrganId><OrganName>Nhận</OrganName></From>"
            f"<ResponseFor><OrganId>{G22}</OrganId><Code>1/SA-VP</Code>"
            f"<PromulgationDate>2024/05/10</PromulgationDate><DocumentId>{number}</DocumentId>"
            "</ResponseFor><StaffInfo><Department>VP</Department><Staff>A</Staff></StaffInfo>"
            f"<StatusCode>{code}</StatusCode><Description>x</Description>"
            "<Timestamp>2024/05/10 10:00:00</Timestamp></Status>"
        )
        answer = await receiver.post(
            "UpdateTraces", envelope(status, key_info(H41, SECRETS["SYS-H41"]))
        )
        assert answer.content_type.startswith("text/xml")
        return answer.error_codes if not answer.ok else []

    assert await update(3) == []
    assert await update(6) == ["STATUS_TRANSITION"]  # 4 and 5 skipped: the core refuses
    assert await update(99) == ["EDXML_STATUS_CODE"]
    sender = hub.client(G22, "SYS-G22")
    codes: list[str] = []
    for _ in range(400):
        answer = await sender.traces("2000/01/01 00:00:00")
        codes = [str(s.findtext(f"{{{E}}}StatusCode")) for s in answer.findall("Traces/Status")]
        if "3" in codes:
            break
        await asyncio.sleep(0.05)
    assert "3" in codes and "1" in codes


async def test_get_document_is_for_recipients_and_sender_only(hub: Hub, tmp_path: Path) -> None:
    number = await send_pdf(hub, to=(H41,))
    receiver = hub.client(H41, "SYS-H41")
    await wait_pending(receiver, number)
    # G22 sent it: visible; an unknown number: NOT_FOUND as a bare Report in the Body.
    assert (await hub.client(G22, "SYS-G22").get_document(number)).parts
    missing = await receiver.get_document(987654)
    assert not missing.ok and missing.error_codes == ["NOT_FOUND"]
    assert missing.body[0].tag == f"{{{E}}}Report"


async def test_check_permission_and_organizations(hub: Hub) -> None:
    client = hub.client(G22, "SYS-G22")
    header = credentials("CheckPermission", G22, SECRETS["SYS-G22"])
    answer = await client.post("CheckPermission", envelope("", header))
    assert answer.ok
    bad = await client.post(
        "CheckPermission", envelope("", credentials("CheckPermission", G22, "x"))
    )
    assert not bad.ok
    organizations = await client.simple("GetOrganizations", "GetOrganizations")
    codes = [str(e.text) for e in organizations.findall("Organizations/Organization/OrganId")]
    assert G22 in codes and H41 in codes
    assert LOCKED not in codes  # suspended agencies are not offered


async def test_zeep_drives_the_body_actions_from_the_served_wsdl(hub: Hub) -> None:
    number = await send_pdf(hub)
    url = hub.url + "/services/eDoc"
    await wait_pending(hub.client(H41, "SYS-H41"), number)

    def session() -> list[object]:
        client = zeep.Client(f"{url}?wsdl")
        service = client.bind("EdocHubService", "EdocHubSoap11Port")
        h41 = {"OrganId": H41, "Token": SECRETS["SYS-H41"]}
        organizations = service.GetOrganizations(**h41)
        pending = service.GetPendingDocumentIds(**h41)
        header = client.get_element("CheckPermission")(**h41)
        permission = service.CheckPermission(_soapheaders=[header])
        confirmed = service.ConfirmReceived(**h41, DocumentId=number)
        wrong = service.GetPendingDocumentIds(OrganId=H41, Token="wrong")
        return [organizations, pending, permission, confirmed, wrong]

    organizations, pending, permission, confirmed, wrong = await asyncio.to_thread(session)
    codes = [o.OrganId for o in organizations.Organizations.Organization]
    assert G22 in codes and H41 in codes
    assert number in pending.DocumentIds.DocumentId
    assert permission.IsSuccess is True  # zeep unwraps a one-child answer: the Report
    assert confirmed.IsSuccess is True
    assert wrong.Report.IsSuccess is False
    assert wrong.Report.ErrorList.Error[0].Code == "AUTH_FAILED"

    def traces() -> object:
        client = zeep.Client(f"{url}?wsdl")
        service = client.bind("EdocHubService", "EdocHubSoap11Port")
        return service.GetTraces(OrganId=G22, Token=SECRETS["SYS-G22"], TimeStamp="2000/01/01")

    for _ in range(400):
        answer = await asyncio.to_thread(traces)
        if answer.Traces is not None and answer.Traces.Status:
            break
        await asyncio.sleep(0.05)
    assert [s.StatusCode for s in answer.Traces.Status] == ["1"]
    assert answer.Traces.Status[0].From.OrganId == H41


async def test_big_attachment_is_read_after_authentication(hub: Hub) -> None:
    big = b"%PDF-1.4\n" + hashlib.sha256(b"seed").digest() * (6 * 2**20 // 32) + b"\n%%EOF\n"
    root = send_document_envelope(
        sender=G22,
        to=[H41],
        number=str(next(NUMBERS)),
        key_organ=G22,
        token=SECRETS["SYS-G22"],
        attachments={"big": "big.pdf"},
    )
    loop = asyncio.get_running_loop()
    intruder = HubClient(hub.http, hub.url + "/services/eDoc", G22, "wrong")
    started = loop.time()
    wrong = root.replace(SECRETS["SYS-G22"], "wrong")
    refused = await intruder.post("SendDocument", wrong, {"big": ("application/pdf", big)})
    assert refused.error_codes == ["AUTH_FAILED"]
    assert loop.time() - started < 5.0  # a wide bound: it catches a full read-then-check

    answer = await hub.client(G22, "SYS-G22").post(
        "SendDocument", root, {"big": ("application/pdf", big)}
    )
    assert answer.ok, answer.error_codes
    number = int(str(answer.find("DocumentId").text))  # type: ignore[union-attr]
    receiver = hub.client(H41, "SYS-H41")
    await wait_pending(receiver, number)
    got = await receiver.get_document(number)
    ((_, data),) = got.parts.values()
    assert hashlib.sha256(decode_part(data)).digest() == hashlib.sha256(big).digest()


async def test_a_resent_document_gets_its_first_number(hub: Hub) -> None:
    code = str(next(NUMBERS))
    first = await send_pdf(hub, code)
    assert await send_pdf(hub, code) == first  # the core's duplicate: the original receipt
    assert await send_pdf(hub) != first
