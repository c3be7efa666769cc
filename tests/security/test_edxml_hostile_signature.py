"""Hostile edXML signatures: wrapping attacks, weak algorithms and keys, expired, untrusted
or tampered certificates and packets are refused by the signature stage and the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree
from signxml import XMLSigner, XMLVerifier
from signxml.algorithms import DigestAlgorithm, SignatureMethod

from edxml.errors import EdxmlError
from edxml.pipeline import check_packet
from edxml.signature import DSIG, sign, verify
from tests.pki import Credential, expired_leaf, make_leaf, make_self_signed
from tests.security.edxml_forge import (
    DS,
    TODAY,
    Pki,
    comment_in_sender,
    duplicate_signature,
    edit,
    envelope_in_foreign_element,
    header,
    move_signature_to_root,
    refused,
    reparent_signed_envelope,
    second_envelope,
)


def test_signed_packet_is_accepted(pki: Pki, signed: bytes) -> None:
    result = check_packet(signed, policy="strict", trust_anchors=[pki.root.cert], today=TODAY)
    assert result.verification.status == "verified"


def _second_envelope_with_forged_sender(root: etree._Element) -> None:
    second_envelope(root, "000.00.00.G01")


def _reparent_signed_envelope(root: etree._Element) -> None:
    reparent_signed_envelope(root, "000.00.00.G01")


def _comment_in_signed_text(root: etree._Element) -> None:
    comment_in_sender(root, "G22")


def _reference_to_an_id(root: etree._Element) -> None:
    ref = root.find(f".//{DS}Reference")
    ref.set("URI", "#signed-part")


def _envelope_hidden_in_foreign_element(root: etree._Element) -> None:
    envelope_in_foreign_element(root, "000.00.00.G01")


WRAPPING = "SIGNATURE_WRAPPING"


@pytest.mark.parametrize(
    ("attack", "codes", "pipeline_codes"),
    [
        (move_signature_to_root, {WRAPPING}, {WRAPPING, "EDXML_SCHEMA"}),
        (duplicate_signature, {WRAPPING}, {WRAPPING, "EDXML_SCHEMA"}),
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
