"""Fixtures for the edXML library tests: the conformance packets, read in place."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"
REAL = SHARED / "conformance" / "real"
MALFORMED = SHARED / "conformance" / "malformed"


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """Directory of the real packets from the axis (must be accepted)."""
    assert REAL.is_dir(), f"conformance packets not found at {REAL}"
    return REAL


@pytest.fixture(scope="session")
def malformed_dir() -> Path:
    """Directory of the malformed packet (must be refused)."""
    assert MALFORMED.is_dir(), f"malformed packets not found at {MALFORMED}"
    return MALFORMED
