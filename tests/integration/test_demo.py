"""`edoc-gateway demo` runs the whole flow from nothing and exits 0 only when it all happened."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_demo_shows_every_step() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from gateway.cli import main; main()", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "signature verified" in out
    assert re.search(r"push → 000\.00\.00\.H17: \d+ bytes", out)
    assert "fetched" in out and "acknowledged" in out
    for recipient in ("000.00.00.H17", "000.00.00.H41"):
        codes = re.findall(rf"{re.escape(recipient)} → 000\.00\.00\.G22: (\d\d)\n", out)
        assert sorted(codes) == ["01", "03", "05", "06"], (recipient, codes)
    assert "15 (recall agreed)" in out
    assert out.rstrip().endswith("every step happened")
    if "private RabbitMQ" in out:
        assert "private node stopped" in out
