"""Hostile edXML input: every attack is refused by the pipeline with its own stable error code,
a path and both messages; nothing else escapes.
"""

from __future__ import annotations

import base64
import copy
import io
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml import XMLSigner, XMLVerifier
from signxml.algorithms import DigestAlgorithm, SignatureMethod

from edxml.errors import EdxmlError
from edxml.model import NAMESPACE
from edxml.parse import Limits
from edxml.pipeline import check_packet
from edxml.signature import DSIG, sign, verify
from tests.conformance import OWN_DIR, OWN_NAMES, own_malformed, third_party_or_own
from tests.pki import Credential, expired_leaf, make_ca, make_leaf, make_self_signed

REAL = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "real"
MALFORMED = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "malformed"
SAMPLE = REAL / "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
NS = f"{{{NAMESPACE}}}"
DS = f"{{{DSIG}}}"
TODAY = datetime(2026, 1, 1).date()


class Pki:
    def __init__(self) -> None:
        self.root = make_ca("Hostile Test Root")
        self.leaf = make_leaf(self.root, "Văn thư")


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture(scope="module")
def sample() -> bytes:
    return third_party_or_own(SAMPLE.name)


@pytest.fixture(scope="module")
def signed(pki: Pki, sample: bytes) -> bytes:
    return sign(sample, pki.leaf.key, pki.leaf.chain)


def refused(
    data: bytes,
    code: str,
    *,
    policy: str = "strict",
    anchors: list | None = None,
    limits: Limits | None = None,
) -> EdxmlError:
    """Run the whole pipeline and assert it refuses ``data`` with ``code``."""
    kwargs = {"limits": limits} if limits else {}
    with pytest.raises(EdxmlError) as info:
        check_packet(data, policy=policy, trust_anchors=anchors or [], today=TODAY, **kwargs)
    err = info.value
    assert err.code == code, f"{err.code}: {err}"
    assert err.path.startswith("/"), err.path
    assert err.message_vi and err.message_en and err.message_vi != err.message_en
    assert err.text_vi.startswith(err.message_vi)
    return err


def edit(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(data)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def header(root: etree._Element) -> etree._Element:
    el = root.find(f"{NS}edXMLEnvelope/{NS}edXMLHeader")
    assert el is not None
    return el


# ------------------------------------------------------------------------------------------
# XML-level attacks

BODY = b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&x;</edXML>'


@pytest.mark.parametrize(
    "doc",
    [
        b'<!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + BODY,
        b'<!DOCTYPE edXML [<!ENTITY x SYSTEM "http://127.0.0.1:9/secret">]>' + BODY,
        b'<!DOCTYPE edXML [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>'
        + BODY.replace(b"&x;", b""),
        b'<!DOCTYPE edXML SYSTEM "http://127.0.0.1:9/edxml.dtd">' + BODY.replace(b"&x;", b""),
        b'<!DOCTYPE edXML [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
        b'<!ENTITY x "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>' + BODY,
        b'<!DOCTYPE edXML [<!ENTITY x "'
        + b"A" * 50_000
        + b'">]>'
        + BODY.replace(b"&x;", b"&x;" * 5_000),
        b"<!DOCTYPE edXML>" + BODY.replace(b"&x;", b""),
    ],
    ids=[
        "xxe-file",
        "xxe-network",
        "parameter-entity",
        "external-dtd",
        "billion-laughs",
        "quadratic-blowup",
        "bare-doctype",
    ],
)
def test_dtd_and_entities_are_refused(doc: bytes) -> None:
    refused(b'<?xml version="1.0" encoding="UTF-8"?>' + doc, "EDXML_DTD_FORBIDDEN", policy="off")


def test_deep_nesting() -> None:
    depth = 5000
    doc = b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">' + b"<a>" * depth
    doc += b"</a>" * depth + b"</edXML>"
    refused(doc, "EDXML_LIMIT", policy="off")


def test_huge_text_node_beyond_limit(sample: bytes) -> None:
    limits = Limits(max_bytes=10 * 2**20, max_depth=64, max_text_bytes=100_000)
    big = sample.replace(b"<edXML:Subject>", b"<edXML:Subject>" + b"X" * 200_000, 1)
    refused(big, "EDXML_LIMIT", policy="off", limits=limits)


def test_packet_beyond_size_limit(sample: bytes) -> None:
    refused(sample, "EDXML_LIMIT", policy="off", limits=Limits(max_bytes=len(sample) - 1))


def test_invalid_utf8(sample: bytes) -> None:
    bad = sample.replace("Văn phòng".encode(), b"V\xe0n ph\xf2ng", 1)
    assert bad != sample
    refused(bad, "EDXML_NOT_WELL_FORMED", policy="off")


def test_wrong_namespace(sample: bytes) -> None:
    other = sample.replace(NAMESPACE.encode(), b"urn:not-edxml")
    refused(other, "EDXML_NAMESPACE", policy="off")


def test_malformed_template_from_the_wire() -> None:
    path = MALFORMED / "vpcp-template-edoc.edxml"
    data = path.read_bytes() if path.is_file() else own_malformed()
    refused(data, "EDXML_NOT_WELL_FORMED", policy="legacy")


# ------------------------------------------------------------------------------------------
# Signature wrapping and weak or untrusted signatures


def test_signed_packet_is_accepted(pki: Pki, signed: bytes) -> None:
    result = check_packet(signed, policy="strict", trust_anchors=[pki.root.cert], today=TODAY)
    assert result.verification.status == "verified"


def _move_signature_to_root(root: etree._Element) -> None:
    root.append(header(root)[-1])


def _duplicate_signature(root: etree._Element) -> None:
    header(root).append(copy.deepcopy(header(root)[-1]))


def _second_envelope_with_forged_sender(root: etree._Element) -> None:
    forged = copy.deepcopy(root.find(f"{NS}edXMLEnvelope"))
    sig = forged.find(f".//{DS}Signature")
    sig.getparent().remove(sig)
    forged.find(f".//{NS}From/{NS}OrganId").text = "000.00.00.G01"
    root.insert(0, forged)


def _reparent_signed_envelope(root: etree._Element) -> None:
    # Classic wrapping: the signed envelope hides in the Signature, a forged one takes its place.
    original = root.find(f"{NS}edXMLEnvelope")
    forged = copy.deepcopy(original)
    forged.find(f".//{NS}From/{NS}OrganId").text = "000.00.00.G01"
    sig = original.find(f".//{DS}Signature")
    holder = etree.SubElement(sig, f"{DS}Object")
    root.replace(original, forged)
    forged_header = forged.find(f"{NS}edXMLHeader")
    forged_header.remove(forged_header[-1])
    forged_header.append(sig)
    holder.append(original)


def _comment_in_signed_text(root: etree._Element) -> None:
    organ = root.find(f".//{NS}From/{NS}OrganId")
    organ.text = "000.00.00."
    comment = etree.Comment("wrapping")
    comment.tail = "G22"
    organ.append(comment)


def _reference_to_an_id(root: etree._Element) -> None:
    ref = root.find(f".//{DS}Reference")
    ref.set("URI", "#signed-part")


def _envelope_hidden_in_foreign_element(root: etree._Element) -> None:
    # The schema lets foreign-namespace elements through at the end of the root.
    forged = copy.deepcopy(root.find(f"{NS}edXMLEnvelope"))
    sig = forged.find(f".//{DS}Signature")
    sig.getparent().remove(sig)
    forged.find(f".//{NS}From/{NS}OrganId").text = "000.00.00.G01"
    etree.SubElement(root, "{urn:example:evil}Wrapper").append(forged)


WRAPPING = "SIGNATURE_WRAPPING"


@pytest.mark.parametrize(
    ("attack", "codes", "pipeline_codes"),
    [
        (_move_signature_to_root, {WRAPPING}, {WRAPPING, "EDXML_SCHEMA"}),
        (_duplicate_signature, {WRAPPING}, {WRAPPING, "EDXML_SCHEMA"}),
        (_second_envelope_with_forged_sender, {WRAPPING}, {WRAPPING, "EDXML_SCHEMA"}),
        (_envelope_hidden_in_foreign_element, {WRAPPING}, {WRAPPING}),
        (_reparent_signed_envelope, {WRAPPING, "SIGNATURE_INVALID"}, None),
        (_comment_in_signed_text, {WRAPPING}, {WRAPPING}),
        (_reference_to_an_id, {WRAPPING}, {WRAPPING}),
    ],
    ids=[
        "moved",
        "duplicated",
        "second-envelope",
        "hidden-envelope",
        "re-parented",
        "comment",
        "reference-id",
    ],
)
@pytest.mark.parametrize("policy", ["strict", "legacy"])
def test_signature_wrapping(
    pki: Pki,
    signed: bytes,
    attack: Callable[[etree._Element], None],
    codes: set[str],
    pipeline_codes: set[str] | None,
    policy: str,
) -> None:
    data = edit(signed, attack)
    # The signature stage itself recognises the attack ...
    with pytest.raises(EdxmlError) as info:
        verify(data, policy, [pki.root.cert])
    assert info.value.code in codes
    assert info.value.path.startswith("/")
    # ... and the whole pipeline refuses it, possibly earlier (the schema sees a misplaced
    # element before the signature stage does).
    with pytest.raises(EdxmlError) as info:
        check_packet(data, policy=policy, trust_anchors=[pki.root.cert], today=TODAY)
    assert info.value.code in (pipeline_codes or codes | {"EDXML_SCHEMA"})
    refused(data, info.value.code, policy=policy, anchors=[pki.root.cert])


def test_comment_attack_is_caught_by_the_wrapping_check(pki: Pki, signed: bytes) -> None:
    # Comments are not digested under exclusive C14N, so the comment attack still verifies
    # cryptographically (signxml alone accepts it); only the wrapping check refuses it.
    data = edit(signed, _comment_in_signed_text)
    XMLVerifier().verify(data, x509_cert=pki.leaf.cert)
    err = refused(data, "SIGNATURE_WRAPPING", anchors=[pki.root.cert])
    assert "comment" in err.detail


class _Sha1Signer(XMLSigner):
    """signxml refuses SHA-1 by default; an attacker's tool would not."""

    def check_deprecated_methods(self) -> None:
        return None


def test_sha1_signature_under_strict(pki: Pki, sample: bytes) -> None:
    root = etree.fromstring(sign(sample, pki.leaf.key, pki.leaf.chain))
    header(root).remove(header(root)[-1])
    etree.SubElement(header(root), f"{DS}Signature", Id="placeholder", nsmap={"ds": DSIG})
    signer = _Sha1Signer(
        signature_algorithm=SignatureMethod.RSA_SHA1,
        digest_algorithm=DigestAlgorithm.SHA1,
        c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#",
    )
    data = etree.tostring(signer.sign(root, key=pki.leaf.key, cert=list(pki.leaf.chain)))
    err = refused(data, "SIGNATURE_WEAK", anchors=[pki.root.cert])
    assert "SHA-1" in err.detail
    result = check_packet(data, policy="legacy", trust_anchors=[pki.root.cert], today=TODAY)
    assert result.verification.status == "unverified-legacy"


def test_weak_rsa_1024_key(pki: Pki, sample: bytes) -> None:
    weak = make_leaf(pki.root, "Khóa 1024", "rsa1024")
    err = refused(sign(sample, weak.key, weak.chain), "SIGNATURE_WEAK", anchors=[pki.root.cert])
    assert "1024" in err.detail


def test_expired_certificate(pki: Pki, sample: bytes) -> None:
    old: Credential = expired_leaf(pki.root, "Đã hết hạn")
    refused(sign(sample, old.key, old.chain), "CERT_EXPIRED", anchors=[pki.root.cert])


def test_untrusted_self_signed_certificate(pki: Pki, sample: bytes) -> None:
    stranger = make_self_signed("Kẻ lạ")
    data = sign(sample, stranger.key, stranger.chain)
    refused(data, "CERT_UNTRUSTED", anchors=[pki.root.cert])
    refused(data, "CERT_UNTRUSTED", policy="legacy", anchors=[pki.root.cert])


def test_signed_then_tampered(pki: Pki, signed: bytes) -> None:
    tampered = signed.replace(b"000.00.00.H41", b"000.00.00.H42", 1)
    refused(tampered, "SIGNATURE_INVALID", anchors=[pki.root.cert])
    refused(tampered, "SIGNATURE_INVALID", policy="legacy", anchors=[pki.root.cert])


def test_expired_validity_checked_against_now(pki: Pki, signed: bytes) -> None:
    with pytest.raises(EdxmlError) as info:
        check_packet(
            signed,
            policy="strict",
            trust_anchors=[pki.root.cert],
            today=TODAY,
            now=datetime.now(UTC) + timedelta(days=4000),
        )
    assert info.value.code == "CERT_EXPIRED"


# ------------------------------------------------------------------------------------------
# Attachments


def _with_attachment(sample: bytes, data: bytes, name: str, content_type: str) -> bytes:
    def change(root: etree._Element) -> None:
        att = root.find("{*}AttachmentEncoded/{*}Attachment")
        ref = root.find(f".//{NS}edXMLManifest/{NS}Reference")
        for el in (att, ref):
            el.find("{*}AttachmentName").text = name
            el.find("{*}ContentType").text = content_type
        att.find(f"{NS}ContentTransferEncoded").text = base64.b64encode(data).decode()

    return edit(sample, change)


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def test_zip_bomb(sample: bytes) -> None:
    bomb = _zip({"a.txt": b"\0" * (30 * 2**20)})
    err = refused(
        _with_attachment(sample, bomb, "a.zip", "application/zip"),
        "ATTACHMENT_BOMB",
        policy="legacy",
    )
    assert err.path == "/edXML/AttachmentEncoded/Attachment[1]"


def test_zip_path_traversal(sample: bytes) -> None:
    evil = _zip({"../../../../etc/cron.d/x.txt": b"* * * * * root sh"})
    err = refused(
        _with_attachment(sample, evil, "a.zip", "application/zip"),
        "ATTACHMENT_PATH",
        policy="legacy",
    )
    assert "etc/cron.d" in err.detail


def test_disallowed_file_type(sample: bytes) -> None:
    err = refused(
        _with_attachment(sample, b"MZ\x90\x00", "setup.exe", "application/pdf"),
        "ATTACHMENT_TYPE",
        policy="legacy",
    )
    assert err.path.endswith("/AttachmentName")


def test_disallowed_entry_in_declared_archive(sample: bytes) -> None:
    data = _zip({"bao-cao.pdf": b"%PDF", "run.bat": b"format c:"})
    refused(
        _with_attachment(sample, data, "ho-so.zip", "application/zip"),
        "ATTACHMENT_TYPE",
        policy="legacy",
    )


def test_bad_base64(sample: bytes) -> None:
    def change(root: etree._Element) -> None:
        root.find(f".//{NS}ContentTransferEncoded").text = "not*base64*at*all"

    refused(edit(sample, change), "ATTACHMENT_INVALID", policy="legacy")


def test_manifest_reference_without_attachment(sample: bytes) -> None:
    def change(root: etree._Element) -> None:
        root.find(f".//{NS}edXMLManifest/{NS}Reference/{NS}ContentId").text = "cid:999"

    refused(edit(sample, change), "MANIFEST_MISMATCH", policy="legacy")


# ------------------------------------------------------------------------------------------
# Property: mutated real packets never make anything but EdxmlError escape

# The third-party samples when present, and always the project's own packets.
_REAL_PACKETS = [p for p in sorted(REAL.glob("*.edxml")) if p.stat().st_size < 20_000] + [
    OWN_DIR / name for name in OWN_NAMES
]


def _mutate(draw: st.DrawFn, data: bytearray) -> bytes:
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate"]))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(_SNIPPETS))
        elif op == "truncate":
            del data[pos:]
        else:
            end = min(len(data), pos + draw(st.integers(1, 200)))
            data[pos:pos] = data[pos:end]
        if not data:
            break
    return bytes(data)


_SNIPPETS = [
    b"<",
    b">",
    b"&",
    b"<!--x-->",
    b"<!DOCTYPE x>",
    b"\xff\xfe",
    b"]]>",
    b"<edXML:To/>",
    b"&amp;",
    b"\x00",
    b"<?pi x?>",
    b"xmlns:a='b'",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(choice=st.data(), policy=st.sampled_from(["strict", "legacy", "off"]))
def test_mutated_packets_raise_only_edxml_errors(
    pki: Pki, signed: bytes, choice: st.DataObject, policy: str
) -> None:
    sources = [signed, *(path.read_bytes() for path in _REAL_PACKETS)]
    data = _mutate(choice.draw, bytearray(choice.draw(st.sampled_from(sources))))
    try:
        result = check_packet(data, policy=policy, trust_anchors=[pki.root.cert], today=TODAY)
    except EdxmlError as err:
        assert err.code and err.message_vi and err.message_en
        assert err.path.startswith("/")
    else:
        assert result.packet.sender
