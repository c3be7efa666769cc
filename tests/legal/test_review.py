"""The legal review on its own: signer bound to sender, packet signer revocation, scanner
errors (real clamd for the scan, a closed port for an unreachable one)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from edxml.build import build, new_document
from edxml.model import Attachment, Code, Organization
from edxml.signature import sign
from gateway.directory.resolver import InMemoryDirectory
from gateway.legal.errors import (
    CertificateRevoked,
    PdfSignatureRequired,
    RevocationUnknown,
    ScannerUnavailable,
    SignerNotSender,
)
from gateway.legal.review import AgencyLookup, LegalReview, SystemPolicy
from gateway.legal.revocation import RevocationPolicy
from gateway.legal.scanner import ClamdScanner
from tests.pdf_pki import RevocableCA, RevocationServer
from tests.services import free_port

G22, H41 = "000.00.00.G22", "000.00.00.H41"


@pytest.fixture(scope="module")
def server() -> Iterator[RevocationServer]:
    with RevocationServer() as running:
        yield running


@pytest.fixture(scope="module")
def ca(server: RevocationServer) -> RevocableCA:
    return RevocableCA("Packet CA", server)


def directory(certificates: str = "") -> AgencyLookup:
    return AgencyLookup(
        InMemoryDirectory.from_records(
            [
                {"code": G22, "name": "Văn phòng Chính phủ", "certificates": certificates},
                {"code": H41, "name": "UBND tỉnh Nghệ An"},
            ]
        )
    )


def signed_packet(signer) -> tuple[bytes, object]:  # type: ignore[no-untyped-def]
    envelope = new_document(
        sender=Organization(organ_id=H41),
        to=[Organization(organ_id=G22)],
        code=Code("9", "UBND"),
        subject="Thử",
        promulgation_date=date(2026, 1, 5),
    )
    return sign(build(envelope), signer.key, signer.chain), envelope


async def test_signer_bound_to_sender(ca: RevocableCA) -> None:
    g22_signer = ca.issue("Văn thư VPCP", organization="Văn phòng Chính phủ")
    raw, packet = signed_packet(g22_signer)  # From H41, signed with G22's certificate
    off = RevocationPolicy("off")
    for binding, refused in (("require", True), ("warn", False), ("off", False)):
        review = LegalReview(revocation=off, systems={"S": SystemPolicy("report", binding)})
        if refused:
            with pytest.raises(SignerNotSender, match=H41):
                await review.review(raw, packet, "verified", "S", directory())
            continue
        report = await review.review(raw, packet, "verified", "S", directory())
        codes = [w["code"] for w in report.warnings]
        assert codes == (["SIGNER_NOT_SENDER"] if binding == "warn" else [])
    h41_signer = ca.issue("Văn thư UBND", organization="UBND tỉnh Nghệ An")
    raw, packet = signed_packet(h41_signer)
    review = LegalReview(revocation=off, systems={"S": SystemPolicy("report", "require")})
    assert (await review.review(raw, packet, "verified", "S", directory())).warnings == ()
    # An identifier recorded for the agency (SHA-256 of the certificate) binds it as well.
    raw, packet = signed_packet(g22_signer)
    print_ = hashlib.sha256(g22_signer.cert.public_bytes(Encoding.DER)).hexdigest()
    lookup = AgencyLookup(
        InMemoryDirectory.from_records([{"code": H41, "name": "X", "certificates": print_}])
    )
    await review.review(raw, packet, "verified", "S", lookup)


async def test_packet_signer_revocation(ca: RevocableCA) -> None:
    good, bad = ca.issue("A"), ca.issue("B")
    ca.revoke(bad)
    review = LegalReview(packet_anchors=(ca.cert,), revocation=RevocationPolicy("soft", 3))
    raw, packet = signed_packet(good)
    assert (await review.review(raw, packet, "verified", "S", None)).signer_revocation == "good"
    raw, packet = signed_packet(bad)
    with pytest.raises(CertificateRevoked):
        await review.review(raw, packet, "verified", "S", None)
    dead = RevocableCA("Dead CA", unreachable=True)
    raw, packet = signed_packet(dead.issue("C"))
    soft = LegalReview(packet_anchors=(dead.cert,), revocation=RevocationPolicy("soft", 2))
    report = await soft.review(raw, packet, "verified", "S", None)
    assert report.signer_revocation == "unknown"
    assert [w["code"] for w in report.warnings] == ["WARN_SIGNER_REVOCATION_UNKNOWN"]
    hard = LegalReview(packet_anchors=(dead.cert,), revocation=RevocationPolicy("hard", 2))
    with pytest.raises(RevocationUnknown):
        await hard.review(raw, packet, "verified", "S", None)


async def test_scanner_unreachable_refuses_or_accepts_by_policy() -> None:
    envelope = new_document(
        sender=Organization(organ_id=G22),
        to=[Organization(organ_id=H41)],
        code=Code("1", "VPCP"),
        subject="Thử",
        promulgation_date=date(2026, 1, 5),
        attachments=[Attachment("cid:1", "a.txt", None, "text/plain", "YWJj")],
    )
    data = build(envelope)
    dead = ClamdScanner(f"tcp://127.0.0.1:{free_port()}", timeout_s=2)
    off = RevocationPolicy("off")
    refuse = LegalReview(revocation=off, scanner=dead, scan_on_error="refuse")
    with pytest.raises(ScannerUnavailable):
        await refuse.review(data, envelope, "unverified-legacy", "S", None)
    accept = LegalReview(revocation=off, scanner=dead, scan_on_error="accept")
    report = await accept.review(data, envelope, "unverified-legacy", "S", None)
    assert report.attachments[0]["scan"] == "skipped"
    assert [w["code"] for w in report.warnings] == ["WARN_SCAN_SKIPPED"]
    strict = LegalReview(revocation=off, systems={"S": SystemPolicy("require")})
    with pytest.raises(PdfSignatureRequired):
        await strict.review(data, envelope, "unverified-legacy", "S", None)
