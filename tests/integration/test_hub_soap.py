"""The Bkav eDoc hub SOAP door of a real gateway (loopback HTTP, real RabbitMQ, SQLite).

Requests are framed as the C# QLVB client frames them (``tests/hub_client.py``); a SwA
SendDocument with a PDF goes from G22 to H41, which lists, fetches and confirms it; the
sender's GetTraces shows status 1 once; refusals answer ``Report/IsSuccess=false`` with an
audit record.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import jwt
import pytest
import zeep
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.soap.lgsp import APPLICATION_CLAIM
from edxml.build import build, status_message
from edxml.model import Organization, ResponseFor, StatusCode
from gateway.store.models import Base
from tests.hub_client import (
    E,
    HubClient,
    credentials,
    decode_part,
    envelope,
    key_info,
    send_document_envelope,
)
from tests.integration.gateway_node import running_node, settings_for
from tests.pki import make_ca, make_leaf, make_self_signed, write_pems
from tests.world import G22, H41, LOCKED, SECRETS

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\r\n" + bytes(range(256)) * 40 + b"\r\n\r\n%%EOF\r\n"
_numbers = iter(range(100, 10_000))


@dataclass
class Hub:
    """The running node, an HTTP session and the store path."""

    url: str
    http: aiohttp.ClientSession
    store: Path

    def client(self, organ: str, system: str, *, multipart: bool = True) -> HubClient:
        return HubClient(self.http, self.url + "/services/eDoc", organ, SECRETS[system], multipart)

    async def audit_rows(self) -> list[dict[str, object]]:
        engine = create_async_engine(f"sqlite+aiosqlite:///{self.store}")
        table = Base.metadata.tables["audit_log"]
        async with engine.connect() as conn:
            rows = (await conn.execute(select(table))).mappings().all()
        await engine.dispose()
        return [dict(r) for r in rows]


@pytest.fixture
async def hub(tmp_path: Path, amqp_url: str) -> AsyncIterator[Hub]:
    ca = make_ca("Hub Test Root CA")
    paths = write_pems(tmp_path / "pki", ca=ca, node=make_leaf(ca, "edoc node"))
    node = {"code": G22, "key_file": str(paths["node.key"]), "cert_file": str(paths["node.chain"])}
    settings = settings_for(tmp_path, amqp_url, node=node)
    async with running_node(settings) as server, aiohttp.ClientSession() as http:
        yield Hub(str(server.make_url("")).rstrip("/"), http, tmp_path / "store.db")


async def send_pdf(hub: Hub, number: str | None = None, to: tuple[str, ...] = (H41,)) -> int:
    """SendDocument G22 → ``to`` with a PDF attachment; returns the numeric hub id."""
    number = number or str(next(_numbers))
    sender = hub.client(G22, "SYS-G22")
    root = send_document_envelope(
        sender=G22,
        to=list(to),
        number=number,
        key_organ=G22,
        token=SECRETS["SYS-G22"],
        attachments={"att1": "a.pdf"},
    )
    answer = await sender.post("SendDocument", root, {"att1": ("application/pdf", PDF)})
    assert answer.status == 200
    assert answer.ok, answer.error_codes
    ident = answer.find("DocumentId")
    assert ident is not None and str(ident.text).isdigit()
    return int(str(ident.text))


async def wait_pending(client: HubClient, number: int) -> None:
    for _ in range(400):
        if number in await client.pending():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{number} never became pending")


async def wait_traces(client: HubClient) -> list[dict[str, str]]:
    for _ in range(400):
        answer = await client.traces()
        found = [
            {c.tag.split("}")[1]: (c.text or "") for c in status}
            for status in answer.findall("Traces/Status")
        ]
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("no trace arrived")


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


async def test_wrong_credentials_answer_report_false_with_one_audit_record(hub: Hub) -> None:
    intruder = HubClient(hub.http, hub.url + "/services/eDoc", H41, "wrong-token")
    answer = await intruder.simple("GetPendingDocumentIds", "GetPendingDocumentIdsRequest")
    assert answer.status == 200
    assert not answer.ok and answer.error_codes == ["AUTH_FAILED"]
    description = answer.find("Report/ErrorList/Error/Description")
    assert description is not None and "Xác thực" in str(description.text)
    assert "Authentication failed" in str(description.text)
    rows = [r for r in await hub.audit_rows() if r.get("outcome") == "AUTH_FAILED"]
    assert len(rows) == 1, rows
    detail = rows[0]["detail"]
    assert "GetPendingDocumentIds" in str(detail) and H41 in str(detail)

    # Another agency's OrganId with a valid secret of a different system is refused too.
    borrowed = HubClient(hub.http, hub.url + "/services/eDoc", G22, SECRETS["SYS-H41"])
    assert not (await borrowed.simple("GetOrganizations", "GetOrganizations")).ok


async def test_key_info_must_be_the_sender(hub: Hub) -> None:
    client = hub.client(H41, "SYS-H41")
    root = send_document_envelope(
        sender=G22,
        to=[H41],
        number=str(next(_numbers)),
        key_organ=H41,
        token=SECRETS["SYS-H41"],
        attachments={"att1": "a.pdf"},
    )
    answer = await client.post("SendDocument", root, {"att1": ("application/pdf", PDF)})
    assert not answer.ok and answer.error_codes == ["SENDER_NOT_ALLOWED"]


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


async def test_unknown_action_and_soap12_are_refused_with_a_report(hub: Hub) -> None:
    client = hub.client(G22, "SYS-G22")
    body = envelope(credentials("GetOrganizations", G22, SECRETS["SYS-G22"]))
    unknown = await client.post("DeleteEverything", body)
    assert not unknown.ok and unknown.error_codes == ["SOAP_ACTION_UNKNOWN"]
    v12 = body.replace(
        "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"
    )
    assert (await client.post("GetOrganizations", v12)).error_codes == ["SOAP_VERSION"]


async def test_hub_rest_v2_round_trip_with_recipient_check(hub: Hub) -> None:
    code = str(next(_numbers))
    number = await send_pdf(hub, code)
    rest = hub.url + "/EdocService"
    h41 = {"organid": H41, "authorization": SECRETS["SYS-H41"]}
    for _ in range(400):
        async with hub.http.get(f"{rest}/getPendingDocIds", headers={**h41, "type": "EDOC"}) as r:
            pending = await r.json()
        if any(d["docId"] == number for d in pending["data"]):
            break
        await asyncio.sleep(0.05)
    assert {"docId": number, "organId": H41} in pending["data"]
    async with hub.http.post(
        f"{rest}/getDocument", headers={**h41, "docid": str(number), "type": "EDOC"}
    ) as r:
        got = await r.json()
    assert got["code"] == "0"
    packet = base64.b64decode(got["data"])
    assert base64.b64encode(PDF) in packet.replace(b"\n", b"")
    # The hub lets anyone fetch by id; the gateway answers only sender and recipients.
    stranger = {"organid": "000.00.00.G17", "authorization": SECRETS["SYS-G22"]}
    async with hub.http.post(
        f"{rest}/getDocument", headers={**stranger, "docid": str(number)}
    ) as r:
        assert r.status == 401
        refused = await r.json()
    assert refused["code"] == "9999" and refused["errors"][0]["code"] == "AUTH_FAILED"
    async with hub.http.post(
        f"{rest}/checkExistDocument",
        headers={"organid": G22, "authorization": SECRETS["SYS-G22"]},
        data=json.dumps({"fromOrgan": G22, "toOrgan": H41, "docCode": f"{code}/SA-VP"}),
    ) as r:
        exist = await r.json()
    assert exist["code"] == "200" and exist["isExist"] is True
    async with hub.http.post(
        f"{rest}/checkExistDocument",
        headers={"organid": G22, "authorization": SECRETS["SYS-G22"]},
        data=json.dumps({"fromOrgan": G22, "toOrgan": H41, "docCode": "0/NONE"}),
    ) as r:
        assert (await r.json())["isExist"] is False
    async with hub.http.post(f"{rest}/confirmReceived", headers={**h41, "docid": str(number)}) as r:
        assert (await r.json())["code"] == "0"
    # A STATUS file over REST v2 reaches the sender's STATUS list.
    accepted = status_message(
        sender=Organization(organ_id=H41),
        document=ResponseFor(organ_id=G22, document_id=f"{G22},2024/05/10,{code}/SA-VP"),
        code=StatusCode.ACCEPTED,
    )
    async with hub.http.post(
        f"{rest}/sendDocument", headers={**h41, "type": "STATUS"}, data=build(accepted)
    ) as r:
        sent = await r.json()
    assert sent["code"] == "0" and isinstance(sent["docId"], int), sent
    g22 = {"organid": G22, "authorization": SECRETS["SYS-G22"], "type": "STATUS"}
    for _ in range(400):
        async with hub.http.get(f"{rest}/getPendingDocIds", headers=g22) as r:
            statuses = (await r.json())["data"]
        if any(d["docId"] == sent["docId"] for d in statuses):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("status never reached the sender")
    async with hub.http.get(f"{rest}/getPendingDocIds", headers={**h41, "type": "EDOC"}) as r:
        assert all(d["docId"] != number for d in (await r.json())["data"])


async def test_big_unauthenticated_nested_body_is_refused_fast(hub: Hub) -> None:
    nested = b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
    nested += b"<a>" * (8 * 2**20 // 3)
    client = hub.client(H41, "SYS-H41", multipart=False)
    loop = asyncio.get_running_loop()

    async def health() -> float:
        started = loop.time()
        async with hub.http.get(hub.url + "/healthz") as r:
            assert r.status == 200
        return loop.time() - started

    started = loop.time()
    answer, pause = await asyncio.gather(client.post("GetOrganizations", nested), health())
    elapsed = loop.time() - started
    assert not answer.ok and answer.error_codes == ["PAYLOAD_TOO_LARGE"]
    print(f"HUB 8 MiB nested: refused {elapsed * 1000:.0f} ms, /healthz {pause * 1000:.0f} ms")
    assert elapsed < 1.0, elapsed
    assert pause < 1.0, pause
    # Under the envelope cap the depth is counted while parsing.
    deep = b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
    deep += b"<a>" * (3 * 2**20 // 3)
    started = loop.time()
    answer = await client.post("GetOrganizations", deep)
    assert answer.error_codes == ["EDXML_LIMIT"]
    assert loop.time() - started < 1.0
    framed = await hub.client(H41, "SYS-H41").post("GetOrganizations", deep)
    assert framed.error_codes == ["EDXML_LIMIT"]


@pytest.mark.parametrize(
    "body",
    [
        b"<!--" + b"x" * 20_000 + b'--><!DOCTYPE s [<!ENTITY e "x">]>'
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE s [<!ENTITY e "x">]>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>'.encode("utf-16"),
    ],
    ids=["after-long-comment", "utf-16"],
)
async def test_doctype_is_refused_by_the_parser(hub: Hub, body: bytes) -> None:
    answer = await hub.client(H41, "SYS-H41").post("GetOrganizations", body)
    assert answer.error_codes == ["EDXML_DTD_FORBIDDEN"]


async def test_behind_an_lgsp_the_jwt_assertion_names_the_system(
    tmp_path: Path, amqp_url: str
) -> None:
    apim = make_self_signed("wso2carbon")
    cert = tmp_path / "apim.pem"
    cert.write_bytes(apim.cert_pem)
    hub_settings = {
        "lgsp_trust_jwt": True,
        "lgsp_certificate": str(cert),
        "lgsp_applications": {"QLVB-NgheAn": "SYS-H41"},
        "soap_path": "/lgsp/eDoc",
    }
    settings = settings_for(tmp_path, amqp_url, hub=hub_settings)

    def assertion(key: object, application: str = "QLVB-NgheAn") -> str:
        claims = {"exp": int(time.time()) + 300, APPLICATION_CLAIM: application}
        return jwt.encode(claims, key, algorithm="RS256")  # type: ignore[arg-type]

    async with running_node(settings) as server, aiohttp.ClientSession() as http:
        url = str(server.make_url("/lgsp/eDoc"))
        # WSO2 stripped the caller's OAuth token; the body Token is absent.
        client = HubClient(http, url, H41, "")
        good = {"X-JWT-Assertion": assertion(apim.key)}
        body = envelope(credentials("GetPendingDocumentIdsRequest", H41, ""))
        answer = await client.post("GetPendingDocumentIds", body, headers=good)
        assert answer.find("DocumentIds") is not None
        forged = {"X-JWT-Assertion": assertion(make_self_signed("intruder").key)}
        refused = await client.post("GetPendingDocumentIds", body, headers=forged)
        assert refused.error_codes == ["AUTH_FAILED"]
        unmapped = {"X-JWT-Assertion": assertion(apim.key, "QLVB-Other")}
        assert (await client.post("GetPendingDocumentIds", body, headers=unmapped)).error_codes
        rest = str(server.make_url("/EdocService/getPendingDocIds"))
        async with http.get(rest, headers={"organid": H41, "type": "EDOC", **good}) as r:
            assert r.status == 200 and (await r.json())["code"] == "0"


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
        number=str(next(_numbers)),
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
    assert loop.time() - started < 1.0

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
    code = str(next(_numbers))
    first = await send_pdf(hub, code)
    assert await send_pdf(hub, code) == first  # the core's duplicate: the original receipt
    assert await send_pdf(hub) != first
