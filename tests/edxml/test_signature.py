"""Tests for edxml/signature.py: sign, verify under each policy, and interop with xmlsec1."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from edxml.errors import (
    WARN_SIGNATURE_UNVERIFIED,
    CertificateExpired,
    CertificateUntrusted,
    SignatureAbsent,
    SignatureInvalid,
    SignatureWeak,
)
from edxml.model import NAMESPACE
from edxml.parse import parse
from edxml.signature import DSIG, SIGNATURE_PATH, Policy, sign, verify
from tests.pki import Credential, expired_leaf, make_ca, make_leaf, make_self_signed, write_pems

SAMPLE = "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
NS = f"{{{NAMESPACE}}}"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


class Pki:
    """Root, intermediate and leaves shared by the tests of this module."""

    def __init__(self) -> None:
        self.root = make_ca("Test Root CA")
        self.sub = make_ca("Test Issuing CA", issuer=self.root)
        self.rsa = make_leaf(self.sub, "Văn thư Văn phòng Chính phủ")
        self.ec = make_leaf(self.sub, "Văn thư UBND Nghệ An", "ec")


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture(scope="module")
def sample(real_dir: Path) -> bytes:
    return (real_dir / SAMPLE).read_bytes()


def _sign(data: bytes, cred: Credential) -> bytes:
    is_ec = isinstance(cred.key, ec.EllipticCurvePrivateKey)
    algorithm = "ecdsa-sha256" if is_ec else "rsa-sha256"
    return sign(data, cred.key, cred.chain, algorithm=algorithm)


def _tamper(data: bytes) -> bytes:
    """Change one byte inside the signed header (DocumentId's number 7816 -> 7817)."""
    assert data.count(b"7816/VPCP") == 1
    return data.replace(b"7816/VPCP", b"7817/VPCP")


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_sign_then_verify_strict(pki: Pki, sample: bytes, kind: str) -> None:
    cred = getattr(pki, kind)
    signed = _sign(sample, cred)
    result = verify(signed, Policy.STRICT, [pki.root.cert])
    assert result.status == "verified"
    assert result.algorithm == ("rsa-sha256" if kind == "rsa" else "ecdsa-sha256")
    assert result.signer == cred.cert.subject.rfc4514_string()
    assert result.chain == (
        cred.cert.subject.rfc4514_string(),
        pki.sub.cert.subject.rfc4514_string(),
        pki.root.cert.subject.rfc4514_string(),
    )
    assert result.warnings == ()
    assert result.packet == parse(sample)
    assert result.packet.sender == "000.00.00.G22"
    assert result.packet.signature is not None and result.packet.signature.namespace == DSIG
    # The model came from the signed XML: the enveloped signature is not part of it.
    assert result.root.find(f".//{{{DSIG}}}Signature") is None


def test_signature_is_last_child_of_header_and_replaces_the_wire_placeholder(
    pki: Pki, sample: bytes
) -> None:
    root = etree.fromstring(_sign(sample, pki.rsa))
    header = root.find(f"{NS}edXMLEnvelope/{NS}edXMLHeader")
    assert header is not None
    assert header[-1].tag == f"{{{DSIG}}}Signature"
    assert header.find(f"{NS}Signature") is None
    ref = header[-1].find(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}Reference")
    assert ref is not None and ref.get("URI") == ""
    c14n = header[-1].find(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}CanonicalizationMethod")
    assert c14n is not None and c14n.get("Algorithm") == EXC_C14N
    assert len(header[-1].findall(f".//{{{DSIG}}}X509Certificate")) == 2


def test_sign_rejects_unknown_algorithm(pki: Pki, sample: bytes) -> None:
    with pytest.raises(ValueError, match="unsupported algorithm"):
        sign(sample, pki.rsa.key, pki.rsa.chain, algorithm="rsa-sha1")


@pytest.mark.parametrize("policy", ["strict", "legacy"])
def test_one_changed_byte_is_refused_under_strict_and_legacy(
    pki: Pki, sample: bytes, policy: str
) -> None:
    signed = _tamper(_sign(sample, pki.rsa))
    with pytest.raises(SignatureInvalid) as info:
        verify(signed, policy, [pki.root.cert])
    assert info.value.path == SIGNATURE_PATH
    assert "Digest mismatch" in info.value.detail


def test_changed_signature_value_is_refused(pki: Pki, sample: bytes) -> None:
    signed = _sign(sample, pki.ec)
    root = etree.fromstring(signed)
    value = root.find(f".//{{{DSIG}}}SignatureValue")
    assert value is not None and value.text
    value.text = ("A" if value.text[0] != "A" else "B") + value.text[1:]
    with pytest.raises(SignatureInvalid):
        verify(etree.tostring(root), "legacy", [pki.root.cert])


def test_off_policy_checks_nothing(pki: Pki, sample: bytes) -> None:
    result = verify(_tamper(_sign(sample, pki.rsa)), "off", [])
    assert result.status == "not-checked"
    assert result.packet.document_id is not None
    assert "7817" in result.packet.document_id


def test_real_packets_are_unverified_legacy_under_legacy(real_dir: Path) -> None:
    files = sorted(real_dir.glob("*.edxml"))
    assert len(files) == 5
    for path in files:
        result = verify(path.read_bytes(), "legacy", [])
        assert result.status == "unverified-legacy", path.name
        assert [w.code for w in result.warnings] == [WARN_SIGNATURE_UNVERIFIED]
        assert result.warnings[0].message_vi and result.warnings[0].message_en
        assert result.packet == parse(path.read_bytes())


def test_real_packet_is_refused_under_strict(sample: bytes) -> None:
    with pytest.raises(SignatureAbsent) as info:
        verify(sample, "strict", [])
    assert "edXML-namespace" in info.value.detail
    assert info.value.path == SIGNATURE_PATH


def test_packet_without_any_signature(sample: bytes) -> None:
    root = etree.fromstring(sample)
    legacy = root.find(f"{NS}edXMLEnvelope/{NS}edXMLHeader/{NS}Signature")
    assert legacy is not None
    legacy.getparent().remove(legacy)
    bare = etree.tostring(root)
    with pytest.raises(SignatureAbsent):
        verify(bare, "strict", [])
    result = verify(bare, "legacy", [])
    assert result.status == "unverified-legacy"
    assert result.warnings[0].code == WARN_SIGNATURE_UNVERIFIED


def test_untrusted_chain(pki: Pki, sample: bytes) -> None:
    other_root = make_ca("Another Root CA")
    with pytest.raises(CertificateUntrusted):
        verify(_sign(sample, pki.rsa), "strict", [other_root.cert])
    with pytest.raises(CertificateUntrusted):
        verify(_sign(sample, pki.rsa), "legacy", [])
    stranger = make_self_signed("Tự ký")
    with pytest.raises(CertificateUntrusted):
        verify(_sign(sample, stranger), "strict", [pki.root.cert])


def test_intermediate_missing_from_keyinfo_is_untrusted(pki: Pki, sample: bytes) -> None:
    signed = sign(sample, pki.rsa.key, [pki.rsa.cert])
    with pytest.raises(CertificateUntrusted):
        verify(signed, "strict", [pki.root.cert])
    # ... but trusting the issuing CA directly is enough.
    assert verify(signed, "strict", [pki.sub.cert]).status == "verified"


def test_expired_certificate(pki: Pki, sample: bytes) -> None:
    old = expired_leaf(pki.sub, "Hết hạn")
    with pytest.raises(CertificateExpired):
        verify(_sign(sample, old), "strict", [pki.root.cert])


def test_validity_is_checked_at_now(pki: Pki, sample: bytes) -> None:
    signed = _sign(sample, pki.rsa)
    future = datetime.now(UTC) + timedelta(days=800)
    with pytest.raises(CertificateExpired):
        verify(signed, "strict", [pki.root.cert], now=future)
    past = datetime.now(UTC) - timedelta(days=30)
    with pytest.raises(CertificateExpired):
        verify(signed, "strict", [pki.root.cert], now=past)
    assert verify(signed, "strict", [pki.root.cert], now=datetime.now(UTC)).status == "verified"


def test_weak_rsa_key(pki: Pki, sample: bytes) -> None:
    weak = make_leaf(pki.sub, "Khóa yếu", "rsa1024")
    signed = sign(sample, weak.key, weak.chain)
    with pytest.raises(SignatureWeak) as info:
        verify(signed, "strict", [pki.root.cert])
    assert "1024" in info.value.detail
    result = verify(signed, "legacy", [pki.root.cert])
    assert result.status == "unverified-legacy"
    assert result.warnings[0].code == WARN_SIGNATURE_UNVERIFIED
    with pytest.raises(SignatureInvalid):
        verify(_tamper(signed), "legacy", [pki.root.cert])


# ------------------------------------------------------------------------------------------
# Interoperability with the xmlsec1 command-line tool (Debian package xmlsec1)

XMLSEC1 = shutil.which("xmlsec1")
TEMPLATE = """<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>\
<ds:SignatureMethod Algorithm="{method}"/><ds:Reference URI=""><ds:Transforms>\
<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>\
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>\
<ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>\
<ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"""
METHODS = {
    "rsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "ecdsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "rsa-sha1": "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
}
DIGESTS = {
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha1": "http://www.w3.org/2000/09/xmldsig#sha1",
}


def xmlsec1_template(data: bytes, method: str, digest: str = "sha256") -> bytes:
    """Return ``data`` with its wire Signature replaced by an empty xmlsec1 signing template."""
    root = etree.fromstring(data)
    header = root.find(f"{NS}edXMLEnvelope/{NS}edXMLHeader")
    assert header is not None
    for old in header.findall(f"{NS}Signature"):
        header.remove(old)
    header.append(etree.fromstring(TEMPLATE.format(method=METHODS[method], digest=DIGESTS[digest])))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def xmlsec1_sign(
    tmp: Path, data: bytes, cred: Credential, method: str, digest: str = "sha256"
) -> bytes:
    """Sign ``data`` with the xmlsec1 CLI, the signer's chain going into X509Data."""
    assert XMLSEC1, "xmlsec1 is not installed (Debian package xmlsec1)"
    paths = write_pems(tmp, signer=cred, issuer=cred.issuer) if cred.issuer else {}
    template = tmp / "template.xml"
    template.write_bytes(xmlsec1_template(data, method, digest))
    out = tmp / "signed-by-xmlsec1.xml"
    keys = f"{paths['signer.key']},{paths['signer.cert']},{paths['issuer.cert']}"
    proc = subprocess.run(
        [XMLSEC1, "--sign", "--privkey-pem", keys, "--output", str(out), str(template)],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return out.read_bytes()


def xmlsec1_verify(
    tmp: Path, data: bytes, anchor: Credential
) -> subprocess.CompletedProcess[bytes]:
    """Run ``xmlsec1 --verify --trusted-pem ca.pem`` on ``data``."""
    assert XMLSEC1, "xmlsec1 is not installed (Debian package xmlsec1)"
    ca = tmp / "ca.pem"
    ca.write_bytes(anchor.cert_pem)
    packet = tmp / "packet.xml"
    packet.write_bytes(data)
    return subprocess.run(
        [XMLSEC1, "--verify", "--trusted-pem", str(ca), str(packet)],
        capture_output=True,
        timeout=120,
    )


@pytest.mark.integration
@pytest.mark.parametrize(("kind", "method"), [("rsa", "rsa-sha256"), ("ec", "ecdsa-sha256")])
def test_packets_signed_by_xmlsec1_verify(
    pki: Pki, sample: bytes, tmp_path: Path, kind: str, method: str
) -> None:
    cred = getattr(pki, kind)
    signed = xmlsec1_sign(tmp_path, sample, cred, method)
    result = verify(signed, "strict", [pki.root.cert])
    assert result.status == "verified"
    assert result.algorithm == method
    assert result.signer == cred.cert.subject.rfc4514_string()
    assert result.packet == parse(sample)
    with pytest.raises(SignatureInvalid):
        verify(_tamper(signed), "strict", [pki.root.cert])


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_packets_we_sign_pass_xmlsec1(pki: Pki, sample: bytes, tmp_path: Path, kind: str) -> None:
    signed = _sign(sample, getattr(pki, kind))
    ok = xmlsec1_verify(tmp_path, signed, pki.root)
    assert ok.returncode == 0, ok.stderr.decode()
    assert b"OK" in ok.stderr + ok.stdout
    bad = xmlsec1_verify(tmp_path, _tamper(signed), pki.root)
    assert bad.returncode != 0
    assert b"FAIL" in bad.stderr + bad.stdout
    untrusted = xmlsec1_verify(tmp_path, signed, make_ca("Another Root CA"))
    assert untrusted.returncode != 0


@pytest.mark.integration
def test_sha1_signature_from_xmlsec1(pki: Pki, sample: bytes, tmp_path: Path) -> None:
    signed = xmlsec1_sign(tmp_path, sample, pki.rsa, "rsa-sha1", "sha1")
    with pytest.raises(SignatureWeak) as info:
        verify(signed, "strict", [pki.root.cert])
    assert "SHA-1" in info.value.detail
    result = verify(signed, "legacy", [pki.root.cert])
    assert result.status == "unverified-legacy"
    assert result.algorithm == "rsa-sha1"
    assert result.warnings[0].code == WARN_SIGNATURE_UNVERIFIED
    # SHA-1 is never "verified", but a broken SHA-1 signature is still refused.
    with pytest.raises(SignatureInvalid):
        verify(_tamper(signed), "legacy", [pki.root.cert])


def test_status_message_signed_and_verified(pki: Pki, real_dir: Path) -> None:
    data = (real_dir / "bkav-status_processing_05.edxml").read_bytes()
    result = verify(_sign(data, pki.ec), "strict", [pki.root.cert])
    assert result.status == "verified"
    assert result.packet == parse(data)
    assert result.packet.kind == "status"


def test_cached_chain_is_not_reused_for_other_anchors_or_times(pki: Pki, sample: bytes) -> None:
    signed = _sign(sample, pki.rsa)
    assert verify(signed, "strict", [pki.root.cert]).status == "verified"
    assert verify(signed, "strict", [pki.root.cert]).status == "verified"  # from the cache
    with pytest.raises(CertificateUntrusted):
        verify(signed, "strict", [make_ca("Another Root CA").cert])
    with pytest.raises(CertificateExpired):
        verify(signed, "strict", [pki.root.cert], now=datetime.now(UTC) + timedelta(days=800))
