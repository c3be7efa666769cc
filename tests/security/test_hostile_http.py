"""Hostile requests against a LIVE gateway process over HTTP: native REST, VXP and hub SOAP.

One ``edoc-gateway serve`` process (SQLite store, real RabbitMQ) takes every case of the
corpus below. Each case must be refused with its own stable error code in the protocol's own
error form (JSON error, VXP ``FAIL`` body, hub ``Report/IsSuccess=false``), leave exactly
one ``rejected`` audit record naming that code (and the packet's SHA-256 when the core
judged the packet), wherever it was decided, and ``/readyz`` must stay 200 afterwards.
Together with ``tests/security/test_edxml_hostile.py`` (the same attacks on the library)
this is the hostile-input corpus of issue 7.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import io
import json
import sqlite3
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import DigestAlgorithm, SignatureMethod

from edxml.model import NAMESPACE
from edxml.signature import DSIG, sign
from gateway.credentials.auth import sign_request
from tests.conformance import OWN_DIR, OWN_DOCUMENT, THIRD_PARTY_REAL
from tests.faults.cluster import GatewayProcess, NodeConfig, readyz_status, report
from tests.hub_client import (
    HubClient,
    credentials,
    envelope,
    frame,
    send_document_envelope,
)
from tests.pki import expired_leaf, make_leaf, make_self_signed
from tests.services import RabbitMQ
from tests.vxp_client import VxpTestClient, sdk_hash_file
from tests.world import G17, G22, H41, LOCKED, SECRETS, Pki, document

pytestmark = pytest.mark.integration

_DC0 = THIRD_PARTY_REAL / "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
SAMPLE = _DC0 if _DC0.is_file() else OWN_DIR / OWN_DOCUMENT  # own packet on a bare clone
NS, DS = f"{{{NAMESPACE}}}", f"{{{DSIG}}}"
MAX_PACKET = 2 * 2**20


# -- the node -----------------------------------------------------------------------------


@dataclass
class Node:
    """The gateway process under attack and what the cases need to forge packets."""

    url: str
    store: Path
    pki: Pki
    cache: dict[str, bytes] = field(default_factory=dict)


@pytest.fixture(scope="module")
def node(rabbitmq: RabbitMQ, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("hostile")
    pki = Pki.create(tmp / "pki")
    store = tmp / "store.db"
    config = NodeConfig(
        f"sqlite:///{store}",
        rabbitmq.url(rabbitmq.new_vhost()),
        tmp / "blobs",
        pki,
        max_packet_bytes=MAX_PACKET,
    )
    process = GatewayProcess(config, tmp / "gateway.log")
    process.start()
    try:
        yield Node(process.url, store, pki)
    finally:
        process.kill()


# -- packets ------------------------------------------------------------------------------


def _xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def edit(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(data)
    change(root)
    return _xml(root)


def _header(root: etree._Element) -> etree._Element:
    return root.find(f"{NS}edXMLEnvelope/{NS}edXMLHeader")


def signed(node: Node) -> bytes:
    """A document from G17 (system SYS-STRICT) signed by a trusted agency signer."""
    if "signed" not in node.cache:
        node.cache["signed"] = sign(
            document("5001", sender=G17), node.pki.signer.key, node.pki.signer.chain
        )
    return node.cache["signed"]


def _forge_sender(root: etree._Element, envelope: etree._Element) -> None:
    envelope.find(f".//{NS}From/{NS}OrganId").text = G22


def wrap_moved(root: etree._Element) -> None:
    root.append(_header(root)[-1])


def wrap_duplicated(root: etree._Element) -> None:
    _header(root).append(copy.deepcopy(_header(root)[-1]))


def wrap_second_envelope(root: etree._Element) -> None:
    forged = copy.deepcopy(root.find(f"{NS}edXMLEnvelope"))
    sig = forged.find(f".//{DS}Signature")
    sig.getparent().remove(sig)
    _forge_sender(root, forged)
    root.insert(0, forged)


def wrap_reparented(root: etree._Element) -> None:
    original = root.find(f"{NS}edXMLEnvelope")
    forged = copy.deepcopy(original)
    _forge_sender(root, forged)
    sig = original.find(f".//{DS}Signature")
    holder = etree.SubElement(sig, f"{DS}Object")
    root.replace(original, forged)
    forged_header = forged.find(f"{NS}edXMLHeader")
    forged_header.remove(forged_header[-1])
    forged_header.append(sig)
    holder.append(original)


def wrap_comment(root: etree._Element) -> None:
    organ = root.find(f".//{NS}From/{NS}OrganId")
    organ.text = "000.00.00."
    comment = etree.Comment("wrapping")
    comment.tail = "G17"
    organ.append(comment)


class _Sha1Signer(XMLSigner):
    def check_deprecated_methods(self) -> None:
        return None


def sha1_signed(node: Node) -> bytes:
    root = etree.fromstring(signed(node))
    _header(root).remove(_header(root)[-1])
    etree.SubElement(_header(root), f"{DS}Signature", Id="placeholder", nsmap={"ds": DSIG})
    signer = _Sha1Signer(
        signature_algorithm=SignatureMethod.RSA_SHA1,
        digest_algorithm=DigestAlgorithm.SHA1,
        c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#",
    )
    key, chain = node.pki.signer.key, list(node.pki.signer.chain)
    return etree.tostring(signer.sign(root, key=key, cert=chain))


def signed_by(node: Node, credential: Any) -> bytes:
    return sign(document("5002", sender=G17), credential.key, credential.chain)


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def with_attachment(data: bytes, name: str, content_type: str) -> bytes:
    def change(root: etree._Element) -> None:
        att = root.find("{*}AttachmentEncoded/{*}Attachment")
        ref = root.find(f".//{NS}edXMLManifest/{NS}Reference")
        for el in (att, ref):
            el.find("{*}AttachmentName").text = name
            el.find("{*}ContentType").text = content_type
        att.find(f"{NS}ContentTransferEncoded").text = base64.b64encode(data).decode()

    return edit(SAMPLE.read_bytes(), change)


def bad_base64() -> bytes:
    def change(root: etree._Element) -> None:
        root.find(f".//{NS}ContentTransferEncoded").text = "not*base64*at*all"

    return edit(SAMPLE.read_bytes(), change)


BODY = b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&x;</edXML>'
DECL = b'<?xml version="1.0" encoding="UTF-8"?>'
XML_ATTACKS: dict[str, tuple[bytes, str]] = {
    "xxe-file": (
        DECL + b'<!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + BODY,
        "EDXML_DTD_FORBIDDEN",
    ),
    "xxe-network": (
        DECL + b'<!DOCTYPE edXML [<!ENTITY x SYSTEM "http://127.0.0.1:9/s">]>' + BODY,
        "EDXML_DTD_FORBIDDEN",
    ),
    "parameter-entity": (
        DECL
        + b'<!DOCTYPE edXML [<!ENTITY % p SYSTEM "http://127.0.0.1:9/e.dtd"> %p;]>'
        + BODY.replace(b"&x;", b""),
        "EDXML_DTD_FORBIDDEN",
    ),
    "external-dtd": (
        DECL + b'<!DOCTYPE edXML SYSTEM "http://127.0.0.1:9/edxml.dtd">' + BODY[:-9] + b">",
        "EDXML_DTD_FORBIDDEN",
    ),
    "billion-laughs": (
        DECL
        + b'<!DOCTYPE edXML [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        + b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY x "&c;&c;&c;&c;&c;&c;&c;">]>'
        + BODY,
        "EDXML_DTD_FORBIDDEN",
    ),
    "quadratic-blowup": (
        DECL
        + b'<!DOCTYPE edXML [<!ENTITY x "'
        + b"A" * 50_000
        + b'">]>'
        + BODY.replace(b"&x;", b"&x;" * 5_000),
        "EDXML_DTD_FORBIDDEN",
    ),
    "deep-nesting": (
        BODY.replace(b"&x;", b"<a>" * 5000 + b"</a>" * 5000),
        "EDXML_LIMIT",
    ),
    "invalid-utf8": (
        document("5003").replace("Đơn vị gửi".encode(), b"\xd0\xa1n v\xef g\xf6i", 1),
        "EDXML_NOT_WELL_FORMED",
    ),
    "wrong-namespace": (
        document("5004").replace(NAMESPACE.encode(), b"urn:not-edxml"),
        "EDXML_NAMESPACE",
    ),
    "not-xml": (b"\x00\x01PK\x03\x04 definitely not xml", "EDXML_NOT_WELL_FORMED"),
}


def packet_for(node: Node, name: str) -> bytes:
    """Bytes of the named hostile packet (cached: signing costs time)."""
    if name in node.cache:
        return node.cache[name]
    if name in XML_ATTACKS:
        data = XML_ATTACKS[name][0]
    elif name.startswith("wrap-"):
        attack = {
            "wrap-moved": wrap_moved,
            "wrap-duplicated": wrap_duplicated,
            "wrap-second-envelope": wrap_second_envelope,
            "wrap-reparented": wrap_reparented,
            "wrap-comment": wrap_comment,
        }[name]
        data = edit(signed(node), attack)
    elif name == "sha1":
        data = sha1_signed(node)
    elif name == "rsa1024":
        data = signed_by(node, make_leaf(node.pki.ca, "Khóa yếu", "rsa1024"))
    elif name == "expired-cert":
        data = signed_by(node, expired_leaf(node.pki.ca, "Hết hạn"))
    elif name == "untrusted-cert":
        data = signed_by(node, make_self_signed("Kẻ lạ"))
    elif name == "tampered":
        data = signed(node).replace(H41.encode(), b"000.00.00.H42", 1)
    elif name == "unsigned-strict":
        data = document("5005", sender=G17)
    elif name == "zip-bomb":
        data = with_attachment(_zip({"a.txt": b"\0" * (30 * 2**20)}), "a.zip", "application/zip")
    elif name == "zip-traversal":
        evil = _zip({"../../../../etc/cron.d/x.txt": b"* * * * * root sh"})
        data = with_attachment(evil, "a.zip", "application/zip")
    elif name == "disallowed-type":
        data = with_attachment(b"MZ\x90\x00", "setup.exe", "application/pdf")
    elif name == "bad-base64":
        data = bad_base64()
    elif name == "forged-from":
        data = document("5006", sender=G22)  # sent by SYS-H41, which speaks for H41 only
    elif name == "recipient-suspended":
        data = document("5007", to=(LOCKED,))
    elif name == "recipient-unknown":
        data = document("5008", to=("000.00.00.H63",))
    elif name == "huge-node":
        data = document("5009").replace(b"</edXML:Subject>", b"X" * MAX_PACKET + b"</", 1)
    else:
        raise KeyError(name)
    node.cache[name] = data
    return data


# -- cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile request: protocol, the packet (or trick) it carries, the code expected."""

    protocol: str  # rest | vxp | soap | admin
    name: str
    code: str
    system: str = "SYS-G22"

    @property
    def id(self) -> str:
        return f"{self.protocol}-{self.name}"


STRICT = "SYS-STRICT"
PACKET_CASES: list[tuple[str, str, str]] = [
    *((name, code, "SYS-G22") for name, (_, code) in XML_ATTACKS.items()),
    ("wrap-moved", "SIGNATURE_WRAPPING", STRICT),
    ("wrap-duplicated", "SIGNATURE_WRAPPING", STRICT),
    ("wrap-second-envelope", "SIGNATURE_WRAPPING|EDXML_SCHEMA", STRICT),
    ("wrap-reparented", "SIGNATURE_WRAPPING|SIGNATURE_INVALID", STRICT),
    ("wrap-comment", "SIGNATURE_WRAPPING", STRICT),
    ("sha1", "SIGNATURE_WEAK", STRICT),
    ("rsa1024", "SIGNATURE_WEAK", STRICT),
    ("expired-cert", "CERT_EXPIRED", STRICT),
    ("untrusted-cert", "CERT_UNTRUSTED", STRICT),
    ("tampered", "SIGNATURE_INVALID", STRICT),
    ("unsigned-strict", "SIGNATURE_ABSENT", STRICT),
    ("zip-bomb", "ATTACHMENT_BOMB", "SYS-G22"),
    ("zip-traversal", "ATTACHMENT_PATH", "SYS-G22"),
    ("disallowed-type", "ATTACHMENT_TYPE", "SYS-G22"),
    ("bad-base64", "ATTACHMENT_INVALID", "SYS-G22"),
    ("forged-from", "SENDER_NOT_ALLOWED", "SYS-H41"),
    ("recipient-suspended", "AGENCY_INACTIVE", "SYS-G22"),
    ("recipient-unknown", "CODE_UNKNOWN", "SYS-G22"),
    ("huge-node", "PAYLOAD_TOO_LARGE", "SYS-G22"),
]
VXP_PACKETS = (
    "xxe-file",
    "billion-laughs",
    "deep-nesting",
    "invalid-utf8",
    "wrong-namespace",
    "wrap-second-envelope",
    "sha1",
    "untrusted-cert",
    "zip-bomb",
    "zip-traversal",
    "forged-from",
    "recipient-suspended",
    "huge-node",
)
SOAP_CASES: list[tuple[str, str, str]] = [
    ("doctype-in-envelope", "EDXML_DTD_FORBIDDEN", "SYS-G22"),
    ("doctype-after-comments", "EDXML_DTD_FORBIDDEN", "SYS-G22"),
    ("doctype-utf16", "EDXML_DTD_FORBIDDEN", "SYS-G22"),
    ("deep-envelope", "EDXML_LIMIT", "SYS-G22"),
    ("oversized-envelope", "PAYLOAD_TOO_LARGE", "SYS-G22"),
    ("soap12-envelope", "SOAP_VERSION", "SYS-G22"),
    ("unknown-action", "SOAP_ACTION_UNKNOWN", "SYS-G22"),
    ("wrong-token", "AUTH_FAILED", "SYS-G22"),
    ("another-agency", "AUTH_FAILED", "SYS-H41"),
    ("forged-from", "SENDER_NOT_ALLOWED", "SYS-H41"),
    ("recipient-unknown", "CODE_UNKNOWN", "SYS-G22"),
    ("disallowed-type", "ATTACHMENT_TYPE", "SYS-G22"),
    ("missing-part", "MANIFEST_MISMATCH", "SYS-G22"),
]
CASES: list[Case] = [
    *(Case("rest", n, c, s) for n, c, s in PACKET_CASES),
    Case("rest", "tampered-request-signature", "AUTH_FAILED"),
    Case("rest", "replayed-request", "AUTH_REPLAY"),
    Case("rest", "stale-timestamp", "AUTH_TIMESTAMP"),
    Case("rest", "anonymous", "AUTH_FAILED"),
    Case("rest", "path-traversal-id", "NOT_FOUND"),
    Case("admin", "agency-signed-request", "AUTH_FAILED"),
    Case("admin", "agency-bearer-token", "AUTH_FAILED"),
    Case("admin", "maintenance-with-agency-token", "AUTH_FAILED"),
    *(Case("vxp", n, c, s) for n, c, s in PACKET_CASES if n in VXP_PACKETS),
    Case("vxp", "tampered-hash-header", "AUTH_FAILED"),
    Case("vxp", "replayed-request", "AUTH_REPLAY", STRICT),
    Case("vxp", "file-hash-mismatch", "FILE_HASH_MISMATCH"),
    Case("vxp", "register-agency-as-agency", "FORBIDDEN"),
    *(Case("soap", n, c, s) for n, c, s in SOAP_CASES),
]


# -- sending ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """The refusal as the protocol rendered it, and the packet to look for in the audit."""

    code: str
    http_status: int
    packet: bytes | None
    messages: tuple[str, ...]


async def _json(response: aiohttp.ClientResponse) -> Any:
    return json.loads(await response.read())


async def run_rest(http: aiohttp.ClientSession, node: Node, case: Case) -> Outcome:
    path, method, body, system = "/v1/messages", "POST", b"", case.system
    headers: dict[str, str] = {}
    packet: bytes | None = None
    if case.name == "tampered-request-signature":
        body = document("5100")
        headers = sign_request(system, SECRETS[system], method, path, body)
        body = body.replace(b"5100", b"5101")  # the signature covered other bytes
    elif case.name == "replayed-request":
        method, path = "GET", "/v1/inbox"
        headers = sign_request(system, SECRETS[system], method, path)
        async with http.get(node.url + path, headers=headers) as first:
            assert first.status == 200
    elif case.name == "stale-timestamp":
        method, path = "GET", "/v1/inbox"
        stale = int(time.time()) - 3600
        headers = sign_request(system, SECRETS[system], method, path, timestamp=stale)
    elif case.name == "anonymous":
        method, path = "GET", "/v1/inbox"
    elif case.name == "path-traversal-id":
        method, path = "GET", "/v1/messages/..%2F..%2F..%2Fetc%2Fpasswd"
        headers = sign_request(system, SECRETS[system], method, path)
    else:
        body = packet = packet_for(node, case.name)
        headers = sign_request(system, SECRETS[system], method, path, body)
    async with http.request(method, node.url + path, data=body, headers=headers) as response:
        error = (await _json(response))["error"]
        return Outcome(
            error["code"], response.status, packet, (error["message_vi"], error["message_en"])
        )


async def run_admin(http: aiohttp.ClientSession, node: Node, case: Case) -> Outcome:
    if case.name == "agency-signed-request":
        path = "/admin/v1/agencies"
        headers = sign_request("SYS-G22", SECRETS["SYS-G22"], "GET", path)
        call = http.get(node.url + path, headers=headers)
    else:
        token_path = "/v1/tokens"
        auth = sign_request("SYS-G22", SECRETS["SYS-G22"], "POST", token_path)
        async with http.post(node.url + token_path, headers=auth) as issued:
            token = (await _json(issued))["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        if case.name == "agency-bearer-token":
            call = http.put(
                node.url + f"/admin/v1/agencies/{H41}",
                json={"name": "Chiếm quyền", "status": "dissolved"},
                headers=bearer,
            )
        else:
            call = http.post(node.url + "/maintenance", json={"reason": "x"}, headers=bearer)
    async with call as response:
        error = (await _json(response))["error"]
        return Outcome(
            error["code"], response.status, None, (error["message_vi"], error["message_en"])
        )


async def run_vxp(http: aiohttp.ClientSession, node: Node, case: Case) -> Outcome:
    client = VxpTestClient(http, node.url + "/vxp", case.system, SECRETS[case.system])
    packet: bytes | None = None
    params = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"}
    if case.name == "tampered-hash-header":
        call = client.prepare("getReceivedEdocList", {"servicetype": "eDoc"})
        call.headers["XroadVnpt-hash-header"] = "0" * 64
    elif case.name == "replayed-request":
        call = client.prepare("getReceivedEdocList", {"servicetype": "eDoc"})
        assert (await client.send(call))["status"] == "OK"
    elif case.name == "file-hash-mismatch":
        body = document("5200")
        call = client.prepare(
            "sendEdoc", {**params, "hash-file": sdk_hash_file(b"other")}, body=body
        )
    elif case.name == "register-agency-as-agency":
        body = json.dumps({"code": "000.00.00.H98", "name": "Giả mạo"}).encode()
        call = client.prepare("registerAgency", {"Content-Type": "application/json"}, body=body)
    else:
        packet = packet_for(node, case.name)
        call = client.prepare(
            "sendEdoc", {**params, "hash-file": sdk_hash_file(packet)}, body=packet
        )
    answer = await client.send(call)
    assert answer["status"] == "FAIL" and answer["ErrorCode"] not in ("0", ""), answer
    return Outcome(answer.get("code", ""), 200, packet, (answer["ErrorDesc"],))


SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
AGENCY = {"SYS-G22": G22, "SYS-H41": H41}


def _soap_request(case: Case) -> tuple[str, bytes, dict[str, tuple[str, bytes]]]:
    """The action, root envelope and attachments of one hostile hub request."""
    organ, token = AGENCY[case.system], SECRETS[case.system]
    listing = envelope(credentials("GetOrganizations", organ, token)).encode()
    prolog = b'<?xml version="1.0" encoding="UTF-8"?>'
    dtd = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    pdf = {"att1": ("application/pdf", b"%PDF-1.4\n%%EOF\n")}

    def send(to: str = H41, sender: str = G22, **kw: Any) -> str:
        return send_document_envelope(
            sender=sender,
            to=[to],
            number="5300",
            key_organ=organ,
            token=token,
            attachments={"att1": kw.get("name", "a.pdf")},
        )

    name = case.name
    if name == "doctype-in-envelope":
        return "GetOrganizations", prolog + dtd + listing, {}
    if name == "doctype-after-comments":
        return "GetOrganizations", b"<!--" + b"c" * 50_000 + b"-->" + dtd + listing, {}
    if name == "doctype-utf16":
        text = '<?xml version="1.0" encoding="UTF-16"?>' + dtd.decode() + listing.decode()
        return "GetOrganizations", text.encode("utf-16"), {}
    if name == "deep-envelope":
        deep = f'<s:Envelope xmlns:s="{SOAP11}"><s:Body>'.encode() + b"<x>" * 500
        return "GetOrganizations", deep, {}
    if name == "oversized-envelope":
        return "GetOrganizations", listing.replace(b"<s:Body>", b"<s:Body>" + b" " * 5 * 2**20), {}
    if name == "soap12-envelope":
        return (
            "GetOrganizations",
            listing.replace(SOAP11.encode(), b"http://www.w3.org/2003/05/soap-envelope"),
            {},
        )
    if name == "unknown-action":
        return "DropTables", listing, {}
    if name == "wrong-token":
        return "GetOrganizations", listing.replace(token.encode(), b"not-the-token"), {}
    if name == "another-agency":  # a valid secret, but of another agency's system
        return "GetOrganizations", listing.replace(organ.encode(), G22.encode()), {}
    if name == "forged-from":  # KeyInfo names H41, From names G22
        return "SendDocument", send().encode(), pdf
    if name == "recipient-unknown":
        return "SendDocument", send(to="000.00.00.H63").encode(), pdf
    if name == "disallowed-type":
        exe = {"att1": ("application/pdf", b"MZ\x90\x00" * 64)}
        return "SendDocument", send(name="setup.exe").encode(), exe
    if name == "missing-part":
        return "SendDocument", send().encode(), {}
    raise KeyError(name)


async def run_soap(http: aiohttp.ClientSession, node: Node, case: Case) -> Outcome:
    action, root, parts = _soap_request(case)
    client = HubClient(http, node.url + "/services/eDoc", AGENCY[case.system], "unused")
    before = _rejected_count(node)
    answer = await client.post(action, root, parts)
    assert answer.status == 200 and not answer.ok
    # Exactly one audit record, written where the refusal was decided.
    assert _rejected_count(node) == before + 1, "one audit record per refusal"
    description = answer.findall("Report/ErrorList/Error/Description")
    text = str(description[0].text) if description else ""
    vi, _, en = text.partition(" / ")
    return Outcome(answer.error_codes[0], answer.status, None, (vi, en))


RUNNERS = {"rest": run_rest, "admin": run_admin, "vxp": run_vxp, "soap": run_soap}


def test_corpus_size() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.protocol for c in CASES} == {"rest", "admin", "vxp", "soap"}


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        yield session


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_hostile_request_is_refused(node: Node, http: aiohttp.ClientSession, case: Case):
    before = _last_seq(node)
    outcome = await RUNNERS[case.protocol](http, node, case)
    assert outcome.code in case.code.split("|"), outcome
    assert all(outcome.messages), "every refusal carries its messages"
    if case.protocol in ("rest", "admin"):
        assert 400 <= outcome.http_status < 500, outcome
    # Every hostile case, at every door: exactly one record, with the code answered.
    [(code, detail)] = _rejections_since(node, before)
    assert code == outcome.code, (code, detail)
    assert detail.get("remote") == "127.0.0.1", detail  # where it came from, at every door
    if outcome.packet is not None and "sha256" in detail:
        assert detail["sha256"] == hashlib.sha256(outcome.packet).hexdigest()
    assert readyz_status(node.url) == 200
    report(f"HOSTILE {case.id}: refused code={outcome.code}")


async def test_adapter_level_refusals_are_audited(node: Node, http: aiohttp.ClientSession):
    before = _rejected_count(node)
    await run_rest(http, node, Case("rest", "anonymous", "AUTH_FAILED"))
    assert _rejected_count(node) > before


def _last_seq(node: Node) -> int:
    with sqlite3.connect(node.store, timeout=30) as db:
        return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_log").fetchone()[0])


def _rejections_since(node: Node, seq: int) -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(node.store, timeout=30) as db:
        rows = db.execute(
            "SELECT outcome, detail FROM audit_log WHERE event = 'rejected' AND seq > ?", (seq,)
        ).fetchall()
    return [(outcome, json.loads(detail or "{}")) for outcome, detail in rows]


def _rejected_count(node: Node) -> int:
    with sqlite3.connect(node.store, timeout=30) as db:
        return int(
            db.execute("SELECT COUNT(*) FROM audit_log WHERE event = 'rejected'").fetchone()[0]
        )


async def test_hub_unauthenticated_8mib_nested_body_is_refused_fast(
    node: Node, http: aiohttp.ClientSession
) -> None:
    """Issue 11's probe at the hub door: refused in well under a second, /healthz answering."""
    nested = f'<s:Envelope xmlns:s="{SOAP11}"><s:Body>'.encode() + b"<a>" * (8 * 2**20 // 3)
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "GetOrganizations"}
    loop = asyncio.get_running_loop()
    health: list[float] = []

    attacking = asyncio.Event()
    health_during: list[float] = []  # /healthz asked while the attack was in flight

    async def probe() -> None:
        await attacking.wait()
        while attacking.is_set() or len(health) < 5:
            started, during = loop.time(), attacking.is_set()
            async with http.get(node.url + "/healthz") as r:
                assert r.status == 200
            health.append(loop.time() - started)
            if during:
                health_during.append(health[-1])

    async def attack() -> tuple[float, bytes]:
        started = loop.time()
        attacking.set()
        try:
            async with http.post(node.url + "/services/eDoc", data=nested, headers=headers) as r:
                body = await r.read()
        finally:
            attacking.clear()
        return loop.time() - started, body

    for framing in ("text/xml", "multipart/related"):
        if framing != "text/xml":
            content_type, nested = frame(nested, {"a": ("application/pdf", b"%PDF")})
            headers["Content-Type"] = content_type
        health.clear()
        health_during.clear()
        (elapsed, body), _ = await asyncio.gather(attack(), probe())
        assert b"PAYLOAD_TOO_LARGE" in body and b"<edXML:IsSuccess>false" in body
        report(
            f"HOSTILE hub 8 MiB nested ({framing}): refused in {elapsed * 1000:.0f} ms, "
            f"/healthz max {max(health) * 1000:.0f} ms, {len(health_during)} asked during it"
        )
        assert elapsed < 1.0 and max(health) < 0.5
        assert health_during, "/healthz was asked while the attack was being refused"
