"""The clamd client against a real clamd started by the test tooling (tests/services.py)."""

from __future__ import annotations

import io
import zipfile

import pytest

from gateway.legal.scanner import ClamdAddress, ClamdScanner, ScannerUnreachable
from tests.services import EICAR, EICAR_SIGNATURE, Clamd, free_port


def _zip(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("kind", ["tcp", "unix"])
async def test_eicar_found_and_clean_file_ok(clamd: Clamd, kind: str) -> None:
    scanner = ClamdScanner(clamd.tcp_url if kind == "tcp" else clamd.unix_url, timeout_s=10)
    assert (await scanner.scan("eicar.txt", EICAR)).signature == EICAR_SIGNATURE
    clean = await scanner.scan("vanban.txt", "Văn bản sạch".encode())
    assert not clean.infected and clean.signature is None
    assert "ClamAV" in await scanner.ping()


async def test_eicar_inside_a_zip_is_found(clamd: Clamd) -> None:
    result = await ClamdScanner(clamd.tcp_url).scan("hoso.zip", _zip("tailieu.doc", EICAR))
    assert result.infected and result.signature == EICAR_SIGNATURE


async def test_unreachable_clamd_raises() -> None:
    scanner = ClamdScanner(f"tcp://127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(ScannerUnreachable):
        await scanner.scan("a.txt", b"x")
    with pytest.raises(ScannerUnreachable):
        await scanner.ping()


def test_address_forms() -> None:
    assert ClamdAddress.parse("tcp://127.0.0.1:3310") == ClamdAddress("127.0.0.1", 3310)
    assert ClamdAddress.parse("unix:///run/clamav/clamd.ctl").path == "/run/clamav/clamd.ctl"
    with pytest.raises(ValueError):
        ClamdAddress.parse("http://127.0.0.1:3310")
