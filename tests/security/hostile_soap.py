"""The hub SOAP door of the hostile HTTP corpus: its cases (DOCTYPEs, deep or oversized
envelopes, SOAP 1.2, unknown actions, borrowed tokens, forged senders, missing parts) and
how each hostile hub request is framed and sent.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.hub_client import HubClient, credentials, envelope, send_document_envelope
from tests.security.hostile_node import Case, Node, Outcome, rejected_count
from tests.world import G22, H41, SECRETS

_SOAP_TABLE: list[tuple[str, str, str]] = [
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
SOAP_CASES: list[Case] = [Case("soap", n, c, s) for n, c, s in _SOAP_TABLE]

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
    """Send one hostile hub request; the refusal as ``Report/IsSuccess=false`` gave it."""
    action, root, parts = _soap_request(case)
    client = HubClient(http, node.url + "/services/eDoc", AGENCY[case.system], "unused")
    before = rejected_count(node)
    answer = await client.post(action, root, parts)
    assert answer.status == 200 and not answer.ok
    # Exactly one audit record, written where the refusal was decided.
    assert rejected_count(node) == before + 1, "one audit record per refusal"
    description = answer.findall("Report/ErrorList/Error/Description")
    text = str(description[0].text) if description else ""
    vi, _, en = text.partition(" / ")
    return Outcome(answer.error_codes[0], answer.status, None, (vi, en))
