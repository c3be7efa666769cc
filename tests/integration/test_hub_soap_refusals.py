"""The Bkav eDoc hub SOAP door of a real gateway: refusals answer ``Report/IsSuccess=false``
with an audit record (wrong credentials, a KeyInfo that is not the sender, unknown
actions, SOAP 1.2, big or nested bodies, DOCTYPEs), and behind an LGSP the JWT assertion
names the system.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import jwt
import pytest

from adapters.soap.lgsp import APPLICATION_CLAIM
from tests.hub_client import HubClient, credentials, envelope, send_document_envelope
from tests.integration.gateway_node import running_node, settings_for
from tests.integration.hub_node import NUMBERS, PDF, Hub, start_hub
from tests.pki import make_self_signed
from tests.world import G22, H41, SECRETS

pytestmark = pytest.mark.integration


@pytest.fixture
async def hub(tmp_path: Path, amqp_url: str) -> AsyncIterator[Hub]:
    async for running in start_hub(tmp_path, amqp_url):
        yield running


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
        number=str(next(NUMBERS)),
        key_organ=H41,
        token=SECRETS["SYS-H41"],
        attachments={"att1": "a.pdf"},
    )
    answer = await client.post("SendDocument", root, {"att1": ("application/pdf", PDF)})
    assert not answer.ok and answer.error_codes == ["SENDER_NOT_ALLOWED"]


async def test_unknown_action_and_soap12_are_refused_with_a_report(hub: Hub) -> None:
    client = hub.client(G22, "SYS-G22")
    body = envelope(credentials("GetOrganizations", G22, SECRETS["SYS-G22"]))
    unknown = await client.post("DeleteEverything", body)
    assert not unknown.ok and unknown.error_codes == ["SOAP_ACTION_UNKNOWN"]
    v12 = body.replace(
        "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"
    )
    assert (await client.post("GetOrganizations", v12)).error_codes == ["SOAP_VERSION"]


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
    # Measured 22–68 ms and /healthz within 59 ms (BENCHMARKS.md); the bounds only catch the
    # old behaviour (21 s parsing on the event loop) and hold on a slow machine.
    assert elapsed < 5.0, elapsed
    assert pause < 5.0, pause
    # Under the envelope cap the depth is counted while parsing.
    deep = b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
    deep += b"<a>" * (3 * 2**20 // 3)
    started = loop.time()
    answer = await client.post("GetOrganizations", deep)
    assert answer.error_codes == ["EDXML_LIMIT"]
    assert loop.time() - started < 5.0  # the depth counted while parsing, not walked after
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
