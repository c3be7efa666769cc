"""Benchmark of the edXML checks, printed beside the ceilings measured in the same run.

For a 50 KB and a 5 MB packet (made with ``edxml.build`` and signed with ``edxml.sign``, RSA-2048
and ECDSA P-256) it prints the medians of: safe parse, schema validation, signature verification
and the whole pipeline (``check_packet``), and the ceilings: lxml's plain parse of the same
bytes and signxml's own verify (with its chain check against the same anchor). A child process
then measures the peak RSS of parse + attachment decoding for a 100 MB packet.

    python bench/edxml_bench.py [--rounds N]

The last line is exactly::

    edxml-bench: pipeline_ms=<median> verify_alone_ms=<median> ratio=<pipeline/verify_alone> \
peak_mem_ratio_100mb=<peak RSS / packet size> pdf_report_ms=<median> scan_ms=<median>

(``pipeline`` and ``verify_alone`` are the 50 KB RSA-2048 figures; ``pdf_report_ms`` and
``scan_ms`` are the legal review of a 50 KB packet whose attachment is a signed PDF:
``bench/legal_figures.py``.)
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402
from signxml import SignatureConfiguration, XMLVerifier  # noqa: E402

from bench.legal_figures import legal_figures  # noqa: E402
from edxml.build import build, new_document  # noqa: E402
from edxml.model import Attachment, Code, Organization  # noqa: E402
from edxml.parse import safe_fromstring  # noqa: E402
from edxml.pipeline import check_packet  # noqa: E402
from edxml.schema import validate_schema  # noqa: E402
from edxml.signature import sign, verify_root  # noqa: E402
from tests.pki import make_ca, make_leaf  # noqa: E402

TODAY = date(2026, 1, 1)
LOCATION = (
    "./{http://www.mic.gov.vn/TBT/QCVN_102_2016}edXMLEnvelope/"
    "{http://www.mic.gov.vn/TBT/QCVN_102_2016}edXMLHeader/"
)


def make_packet(size: int) -> bytes:
    """An unsigned new-document packet of about ``size`` bytes (one zipped PDF-like file)."""
    payload = b"%PDF-1.7\n" + os.urandom(max(size * 3 // 4 - 6_000, 1_000))  # sniffed: a PDF
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("van-ban.pdf", payload)
    attachment = Attachment(
        content_id="cid:1",
        attachment_name="van-ban.zip",
        description="Văn bản ký số",
        content_type="application/zip",
        encoded=base64.b64encode(buf.getvalue()).decode(),
    )
    envelope = new_document(
        sender=Organization("000.00.00.G22", organ_name="Văn phòng Chính phủ"),
        to=[Organization("000.00.00.H41", organ_name="UBND Tỉnh Nghệ An")],
        code=Code("7816", "VPCP-TTĐT"),
        subject="V/v kết nối, liên thông phần mềm quản lý văn bản",
        promulgation_date=date(2025, 12, 1),
        place="Hà Nội",
        attachments=[attachment],
    )
    return build(envelope)


def medians_ms(figures: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median wall time of each callable; rounds interleave them so load hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in figures}
    for fn in figures.values():
        fn()  # warm-up
    for _ in range(rounds):
        for name, fn in figures.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


_MEMORY_CHILD = """
import resource, sys
sys.path.insert(0, sys.argv[2])
from edxml.attachments import decode_attachments
from edxml.parse import parse
data = open(sys.argv[1], "rb").read()
packet = parse(data)
files = decode_attachments(packet)
assert files and files[0].size > 0.7 * len(data)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
try:  # ru_maxrss can carry the parent's high-water mark over fork+exec; VmHWM cannot
    with open("/proc/self/status") as status:
        hwm = [line for line in status if line.startswith("VmHWM:")]
    peak = int(hwm[0].split()[1]) * 1024
except (OSError, IndexError):
    pass
print(peak)
"""


def peak_memory_ratio(size: int) -> float:
    """Peak RSS of parse + decode of a ``size``-byte packet, in a fresh child process.

    The caller's copy of the bytes stays alive during the whole check, as in the gateway.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.edxml"
        subprocess.run(
            [sys.executable, __file__, "--make-packet", str(path), "--packet-bytes", str(size)],
            check=True,
            timeout=600,
        )
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, str(path), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        return int(out.stdout.strip()) / path.stat().st_size


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100, help="rounds for the 50 KB packet")
    parser.add_argument("--big-mb", type=int, default=100, help="size of the memory test packet")
    parser.add_argument("--make-packet", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--packet-bytes", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_packet:  # internal: the memory child's input, made in its own process
        args.make_packet.write_bytes(make_packet(args.packet_bytes))
        return
    peak = peak_memory_ratio(args.big_mb * 10**6)  # first, while this process is small

    anchor = make_ca("Bench Root CA")
    signers = {
        "rsa-sha256": make_leaf(anchor, "Bench RSA-2048"),
        "ecdsa-sha256": make_leaf(anchor, "Bench ECDSA P-256", "ec"),
    }
    results: dict[str, float] = {}
    with tempfile.NamedTemporaryFile(suffix=".pem") as ca_file:
        ca_file.write(anchor.cert_pem)
        ca_file.flush()
        huge = etree.XMLParser(resolve_entities=False, huge_tree=True)
        for label, size, rounds in (("50KB", 50_000, args.rounds), ("5MB", 5_000_000, 5)):
            unsigned = make_packet(size)
            for alg, cred in signers.items():
                data = sign(unsigned, cred.key, cred.chain, algorithm=alg)
                root = safe_fromstring(data)
                anchors = [anchor.cert]
                config = SignatureConfiguration(location=LOCATION)
                figures = {
                    "lxml_parse_alone": lambda d=data: etree.fromstring(d, huge),
                    "parse": lambda d=data: safe_fromstring(d),
                    "schema": lambda r=root: validate_schema(r),
                    "verify": lambda r=root, a=anchors: verify_root(r, "strict", a),
                    "signxml_verify_alone": lambda d=data, c=config: XMLVerifier().verify(
                        d, ca_pem_file=ca_file.name, expect_config=c, parser=huge
                    ),
                    "pipeline": lambda d=data, a=anchors: check_packet(
                        d, policy="strict", trust_anchors=a, today=TODAY
                    ),
                }
                for name, ms in medians_ms(figures, rounds).items():
                    results[f"{label}/{alg}/{name}"] = ms
                    print(f"{label:>5} {len(data):>9} B  {alg:<13} {name:<22} {ms:9.2f} ms")
    pipeline = results["50KB/rsa-sha256/pipeline"]
    alone = results["50KB/rsa-sha256/signxml_verify_alone"]
    legal = legal_figures(max(10, args.rounds // 3))
    print(
        f"edxml-bench: pipeline_ms={pipeline:.2f} verify_alone_ms={alone:.2f} "
        f"ratio={pipeline / alone:.2f} peak_mem_ratio_100mb={peak:.2f} "
        f"pdf_report_ms={legal['pdf_report_ms']:.2f} scan_ms={legal['scan_ms']:.2f}"
    )


if __name__ == "__main__":
    main()
