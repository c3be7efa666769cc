"""Fixtures for the edXML library tests: the conformance packets, read in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import third_party_malformed_dir, third_party_real_dir


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """Directory of the third-party real packets from the axis (must be accepted); tests
    using it are skipped, saying why, on a bare clone without ../shared."""
    return third_party_real_dir()


@pytest.fixture(scope="session")
def malformed_dir() -> Path:
    """Directory of the third-party malformed packet (must be refused)."""
    return third_party_malformed_dir()
