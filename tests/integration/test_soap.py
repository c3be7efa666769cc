"""The SOAP endpoint of a real gateway, driven by zeep loading the WSDL the gateway serves.

Both SOAP 1.1 and 1.2 ports are exercised; malformed requests must get SOAP faults of the
request's version, never a stack trace.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import zeep
from lxml import etree
from zeep.exceptions import Fault
from zeep.wsse.username import UsernameToken

from tests.integration.gateway_node import (
    G22,
    H14,
    H41,
    SECRETS,
    Shared,
    document,
    running_node,
    settings_for,
)

pytestmark = pytest.mark.integration

WAIT_S = 90.0
SERVICE_NS = "urn:edoc-gateway:soap:1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
PORTS = {"1.1": "EdocGatewaySoap11Port", "1.2": "EdocGatewaySoap12Port"}


@pytest.fixture
async def soap_url(tmp_path: Path, amqp_url: str) -> AsyncIterator[str]:
    async with running_node(settings_for(tmp_path, amqp_url)) as server:
        yield str(server.make_url("/soap"))


def zeep_client(soap_url: str, system: str, secret: str | None = None) -> zeep.Client:
    """A zeep client built from the WSDL served by the gateway (loading is synchronous)."""
    token = UsernameToken(system, secret if secret is not None else SECRETS[system])
    return zeep.Client(f"{soap_url}?wsdl", wsse=token)


async def service(soap_url: str, version: str, system: str, secret: str | None = None) -> Any:
    client = await asyncio.to_thread(zeep_client, soap_url, system, secret)
    return client.bind("EdocGatewayService", PORTS[version])


async def call(operation: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(operation, **kwargs)


def fault_code(fault: Fault) -> str:
    detail = fault.detail
    assert detail is not None, fault
    code = detail.find(f".//{{{SERVICE_NS}}}Code")
    assert code is not None, etree.tostring(detail)
    return str(code.text)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
async def test_document_round_trip(soap_url: str, version: str, shared_dir: Path) -> None:
    packet = Shared(shared_dir).real("vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml")
    g22 = await service(soap_url, version, "SYS-G22")
    h41 = await service(soap_url, version, "SYS-H41")

    receipt = await call(g22.SendDocument, Packet=packet)
    message_id = receipt.MessageId
    assert message_id
    assert receipt.Duplicate is False
    assert {r.Code for r in receipt.Recipient} >= {H41, H14}
    assert len(receipt.ContentSha256) == 64

    again = await call(g22.SendDocument, Packet=packet)
    assert again.MessageId == message_id
    assert again.Duplicate is True

    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        items = await call(h41.GetPendingDocumentIds, Limit=100) or []
        mine = [i for i in items if i.MessageId == message_id]
        if mine:
            break
        assert asyncio.get_running_loop().time() < deadline, "never pending"
        await asyncio.sleep(0.3)
    assert mine[0].From == G22
    assert mine[0].To == H41
    assert mine[0].Kind == "document"

    fetched = await call(h41.GetDocument, MessageId=message_id)
    assert fetched.Packet == packet

    assert await call(h41.UpdateStatus, MessageId=message_id, Status="done") == "OK"
    items = await call(h41.GetPendingDocumentIds, Limit=100) or []
    assert all(i.MessageId != message_id for i in items)

    trace = await call(g22.GetTraces, MessageId=message_id)
    events = [(e.Event, e.Agency, e.State) for e in trace.Event]
    assert events[0][:2] == ("accepted", G22)
    assert ("delivery", H41, "acked") in events


@pytest.mark.parametrize("version", ["1.1", "1.2"])
async def test_get_organizations(soap_url: str, version: str) -> None:
    g22 = await service(soap_url, version, "SYS-G22")
    organizations = await call(g22.GetOrganizations)
    by_code = {o.Code: o for o in organizations}
    assert by_code[G22].Name == "Văn phòng Chính phủ"
    assert by_code[G22].OldCode == "G22"
    found = await call(g22.GetOrganizations, Search="Nghệ An")
    assert [o.Code for o in found] == [H41]


@pytest.mark.parametrize("version", ["1.1", "1.2"])
async def test_wrong_secret_is_a_fault(soap_url: str, version: str) -> None:
    intruder = await service(soap_url, version, "SYS-G22", "wrong")
    with pytest.raises(Fault) as caught:
        await call(intruder.GetOrganizations)
    assert fault_code(caught.value) == "AUTH_FAILED"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
async def test_core_refusals_are_faults(soap_url: str, version: str) -> None:
    g22 = await service(soap_url, version, "SYS-G22")
    h41 = await service(soap_url, version, "SYS-H41")
    with pytest.raises(Fault) as caught:
        await call(h41.SendDocument, Packet=document("701"))
    assert fault_code(caught.value) == "SENDER_NOT_ALLOWED"
    with pytest.raises(Fault) as caught:
        await call(g22.SendDocument, Packet=document("702", to=["000.00.00.H62"]))
    assert fault_code(caught.value) == "CODE_UNKNOWN"
    with pytest.raises(Fault) as caught:
        await call(g22.SendDocument, Packet=b"<not-edxml/>")
    assert fault_code(caught.value).startswith("EDXML_")
    with pytest.raises(Fault) as caught:
        await call(g22.GetDocument, MessageId="no-such-message")
    assert fault_code(caught.value) == "NOT_FOUND"


async def test_wsdl_names_the_address_it_was_fetched_from(soap_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{soap_url}?wsdl") as response:
        assert response.status == 200
        wsdl = etree.fromstring(await response.read())
    locations = {a.get("location") for a in wsdl.iter() if a.tag.endswith("}address")}
    assert locations == {soap_url}
    operations = {o.get("name") for o in wsdl.iter("{http://schemas.xmlsoap.org/wsdl/}operation")}
    assert operations == {
        "SendDocument",
        "GetPendingDocumentIds",
        "GetDocument",
        "UpdateStatus",
        "GetTraces",
        "GetOrganizations",
    }


def envelope(namespace: str, body: str, header: str = "") -> bytes:
    return (
        f'<e:Envelope xmlns:e="{namespace}" xmlns:t="{SERVICE_NS}">'
        f"<e:Header>{header}</e:Header><e:Body>{body}</e:Body></e:Envelope>"
    ).encode()


AUTH = {"X-SystemId": "SYS-G22", "X-SecretKey": SECRETS["SYS-G22"]}


@pytest.mark.parametrize(
    ("name", "content_type", "payload", "version", "status", "code"),
    [
        ("not xml", "text/xml", b"this is not xml", "1.1", 500, "SOAP_MALFORMED"),
        (
            "doctype",
            "text/xml",
            b'<!DOCTYPE x [<!ENTITY a "b">]>' + envelope(SOAP11, "<t:GetOrganizations/>"),
            "1.1",
            500,
            "SOAP_MALFORMED",
        ),
        ("not an envelope", "text/xml", b"<a/>", "1.1", 500, "SOAP_VERSION_MISMATCH"),
        (
            "unknown operation",
            "application/soap+xml",
            envelope(SOAP12, "<t:Explode/>"),
            "1.2",
            400,
            "SOAP_UNKNOWN_OPERATION",
        ),
        (
            "empty body",
            "application/soap+xml",
            envelope(SOAP12, ""),
            "1.2",
            400,
            "SOAP_BODY",
        ),
        (
            "version and content type disagree",
            "text/xml",
            envelope(SOAP12, "<t:GetOrganizations/>"),
            "1.2",
            400,
            "SOAP_CONTENT_TYPE",
        ),
        (
            "missing parameter",
            "text/xml",
            envelope(SOAP11, "<t:GetDocument/>"),
            "1.1",
            500,
            "REQUEST_INVALID",
        ),
        (
            "bad ack",
            "application/soap+xml",
            envelope(
                SOAP12,
                "<t:UpdateStatus><t:MessageId>x</t:MessageId><t:Status>03</t:Status>"
                "</t:UpdateStatus>",
            ),
            "1.2",
            400,
            "REQUEST_INVALID",
        ),
    ],
)
async def test_malformed_requests_get_soap_faults(
    soap_url: str,
    name: str,
    content_type: str,
    payload: bytes,
    version: str,
    status: int,
    code: str,
) -> None:
    headers = {"Content-Type": f"{content_type}; charset=utf-8", **AUTH}
    async with (
        aiohttp.ClientSession() as http,
        http.post(soap_url, data=payload, headers=headers) as response,
    ):
        text = await response.read()
        assert response.status == status, text
        assert response.content_type == ("text/xml" if version == "1.1" else "application/soap+xml")
    assert b"Traceback" not in text
    root = etree.fromstring(text)
    namespace = SOAP11 if version == "1.1" else SOAP12
    fault = root.find(f"{{{namespace}}}Body/{{{namespace}}}Fault")
    assert fault is not None, text
    assert root.findtext(f".//{{{SERVICE_NS}}}Code") == code
    assert root.findtext(f".//{{{SERVICE_NS}}}MessageVi")


async def test_unauthenticated_requests_are_faults(soap_url: str) -> None:
    headers = {"Content-Type": "text/xml"}
    payload = envelope(SOAP11, "<t:GetOrganizations/>")
    async with (
        aiohttp.ClientSession() as http,
        http.post(soap_url, data=payload, headers=headers) as response,
    ):
        assert response.status == 500
        root = etree.fromstring(await response.read())
    assert root.findtext(f".//{{{SERVICE_NS}}}Code") == "AUTH_FAILED"
    assert root.findtext(".//faultcode") == "soap:Client"


async def test_get_without_wsdl_query_is_not_found(soap_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(soap_url) as response:
        assert response.status == 404
