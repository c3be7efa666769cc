"""Cost of the legal review for a 50 KB packet whose attachment is a signed PDF.

Used by ``bench/edxml_bench.py``. The PDF is signed with pyhanko by a CA made here; its OCSP
responder runs on loopback (tests/pdf_pki.py); clamd is our own (tests/services.py, an
EICAR-only database, so the figure is the protocol and streaming cost, not a full
signature set's). Figures (medians, ms): ``pdf_report_ms`` (pyhanko validation, revocation
off), ``pdf_report_ocsp_ms`` (with an OCSP request to the loopback responder),
``scan_ms`` (INSTREAM of the attachment over clamd's unix socket).
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import time
from collections.abc import Callable
from datetime import date

from edxml.build import build, new_document
from edxml.model import Attachment, Code, Organization
from edxml.pipeline import check_packet
from gateway.legal.pdf_signatures import DocumentTrust, report_pdfs_sync
from gateway.legal.revocation import RevocationPolicy
from gateway.legal.scanner import ClamdScanner
from tests.pdf_pki import RevocableCA, RevocationServer, blank_pdf, sign_pdf
from tests.services import Clamd


def _median_ms(fn: Callable[[], object], rounds: int) -> float:
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def legal_figures(rounds: int = 30) -> dict[str, float]:
    """Run the legal-review figures; print one line each and return them."""
    with RevocationServer() as server:
        ca = RevocableCA("Bench document CA", server)
        pdf = sign_pdf(blank_pdf(padding=29_000), ca.issue("Bench signer", organization="VPCP"))
        packet = build(
            new_document(
                sender=Organization("000.00.00.G22", organ_name="Văn phòng Chính phủ"),
                to=[Organization("000.00.00.H41")],
                code=Code("7817", "VPCP-TTĐT"),
                subject="Văn bản ký số PAdES",
                promulgation_date=date(2025, 12, 1),
                attachments=[
                    Attachment(
                        "cid:1", "qd.pdf", None, "application/pdf", base64.b64encode(pdf).decode()
                    )
                ],
            )
        )
        check_packet(packet, policy="legacy", trust_anchors=[], today=date(2026, 1, 1))
        off = DocumentTrust((ca.cert,), RevocationPolicy("off"))
        soft = DocumentTrust((ca.cert,), RevocationPolicy("soft", 5.0))
        (report,) = report_pdfs_sync([("qd.pdf", pdf)], soft)
        assert report.status == "valid" and report.revocation == "good", report
        figures = {
            "pdf_report_ms": _median_ms(lambda: report_pdfs_sync([("qd.pdf", pdf)], off), rounds),
            "pdf_report_ocsp_ms": _median_ms(
                lambda: report_pdfs_sync([("qd.pdf", pdf)], soft), rounds
            ),
        }
    clamd = Clamd()
    clamd.start()
    loop = asyncio.new_event_loop()
    try:
        scanner = ClamdScanner(clamd.unix_url)
        figures["scan_ms"] = _median_ms(
            lambda: loop.run_until_complete(scanner.scan("qd.pdf", pdf)), rounds
        )
    finally:
        loop.close()
        clamd.stop()
    print(f"legal: packet {len(packet)} B, signed PDF {len(pdf)} B")
    for name, value in figures.items():
        print(f"legal: {name:<20} {value:9.2f} ms")
    return figures
