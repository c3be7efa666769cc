"""PDF signature reports (pyhanko) against a test PKI with OCSP and CRL served over loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.legal.pdf_signatures import DocumentTrust, report_pdfs_sync
from gateway.legal.revocation import RevocationPolicy, check_certificate_sync
from tests.pdf_pki import (
    RevocableCA,
    RevocationServer,
    append_update,
    blank_pdf,
    sign_pdf,
    tamper,
)
from tests.pki import make_ca as plain_ca
from tests.pki import make_leaf


@pytest.fixture(scope="module")
def server() -> Iterator[RevocationServer]:
    with RevocationServer() as running:
        yield running


@pytest.fixture(scope="module")
def ca(server: RevocationServer) -> RevocableCA:
    return RevocableCA("Ban Cơ yếu Chính phủ (test)", server)


@pytest.fixture(scope="module")
def signed(ca: RevocableCA) -> bytes:
    return sign_pdf(blank_pdf(), ca.issue("Nguyễn Văn A", organization="Văn phòng Chính phủ"))


def report(data: bytes, anchors: tuple, mode: str = "soft") -> dict:
    trust = DocumentTrust(anchors, RevocationPolicy(mode, 3.0))  # type: ignore[arg-type]
    (only,) = report_pdfs_sync([("vanban.pdf", data)], trust)
    return only.as_dict()


def test_valid_signature_with_signer_and_good_revocation(ca: RevocableCA, signed: bytes) -> None:
    r = report(signed, (ca.cert,))
    assert r["status"] == "valid"
    assert r["signer"] == "Nguyễn Văn A" and r["signer_organization"] == "Văn phòng Chính phủ"
    assert r["covers_whole_document"] is True
    assert r["revocation"] == "good"
    assert r["signing_time"] is not None and r["timestamp"] is None
    assert r["file"] == "vanban.pdf" and r["field"] == "Signature1"


def test_tampered_pdf_is_invalid(ca: RevocableCA, signed: bytes) -> None:
    r = report(tamper(signed), (ca.cert,))
    assert r["status"] == "invalid" and "digest" in r["reason"]


def test_signer_of_another_ca_is_indeterminate(ca: RevocableCA, server) -> None:
    other = RevocableCA("Some other CA", server)
    r = report(sign_pdf(blank_pdf(), other.issue("Người lạ")), (ca.cert,))
    assert r["status"] == "indeterminate" and "trust anchor" in r["reason"]
    assert r["revocation"] == "not_checked"


def test_incremental_update_after_signing(ca: RevocableCA, signed: bytes) -> None:
    r = report(append_update(signed), (ca.cert,))
    assert r["covers_whole_document"] is False
    assert r["status"] == "valid"  # the signed revision itself is intact


def test_revoked_signer(ca: RevocableCA) -> None:
    leaf = ca.issue("Trần Thị B")
    ca.revoke(leaf)
    for mode in ("soft", "hard"):
        r = report(sign_pdf(blank_pdf(), leaf), (ca.cert,), mode)
        assert r["revocation"] == "revoked" and r["status"] == "invalid", mode


def test_unreachable_responder_soft_reports_unknown_hard_is_indeterminate() -> None:
    dead = RevocableCA("CA whose responder is down", unreachable=True)
    data = sign_pdf(blank_pdf(), dead.issue("Lê Văn C"))
    soft = report(data, (dead.cert,), "soft")
    assert soft["status"] == "valid" and soft["revocation"] == "unknown"
    hard = report(data, (dead.cert,), "hard")
    assert hard["status"] == "indeterminate" and hard["revocation"] == "unknown"


def test_revocation_off_fetches_nothing(ca: RevocableCA, server, signed: bytes) -> None:
    before = server.ocsp_requests
    r = report(signed, (ca.cert,), "off")
    assert r["revocation"] == "not_checked" and r["status"] == "valid"
    assert server.ocsp_requests == before


def test_pdf_without_signature_has_an_empty_report(ca: RevocableCA) -> None:
    trust = DocumentTrust((ca.cert,), RevocationPolicy("off"))
    assert report_pdfs_sync([("a.pdf", blank_pdf())], trust) == []
    assert report_pdfs_sync([("b.pdf", b"%PDF-1.7 broken")], trust) == []


def test_packet_signer_revocation(ca: RevocableCA) -> None:
    good, bad = ca.issue("Văn thư 1"), ca.issue("Văn thư 2")
    ca.revoke(bad)
    dead = RevocableCA("Dead responder CA", unreachable=True)
    policy = RevocationPolicy("soft", 3.0)
    assert check_certificate_sync(good.cert, [], [ca.cert], policy) == "good"
    assert check_certificate_sync(bad.cert, [], [ca.cert], policy) == "revoked"
    assert check_certificate_sync(dead.issue("X").cert, [], [dead.cert], policy) == "unknown"
    off = RevocationPolicy("off")
    assert check_certificate_sync(bad.cert, [], [ca.cert], off) == "not_checked"


def test_packet_signer_answers_are_cached_and_certificates_without_urls_unknown(
    ca: RevocableCA, server: RevocationServer
) -> None:
    policy = RevocationPolicy("soft", 3.0)
    leaf = ca.issue("Văn thư 3")
    assert check_certificate_sync(leaf.cert, [], [ca.cert], policy) == "good"
    asked = server.ocsp_requests
    assert check_certificate_sync(leaf.cert, [], [ca.cert], policy) == "good"
    assert server.ocsp_requests == asked  # cached
    root = plain_ca("No URLs CA")
    bare = make_leaf(root, "Không có OCSP")
    assert check_certificate_sync(bare.cert, [], [root.cert], policy) == "unknown"
    assert server.ocsp_requests == asked
