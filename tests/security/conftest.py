"""Fixtures of the hostile edXML tests (``test_edxml_hostile_*.py``): the test PKI, the
sample packet and that packet signed. Module-scoped, as they were in the single module: each
test module builds its own.
"""

from __future__ import annotations

import pytest

from edxml.signature import sign
from tests.conformance import third_party_or_own
from tests.security.edxml_forge import SAMPLE, Pki


@pytest.fixture(scope="module")
def pki() -> Pki:
    """A test root CA and its agency signer."""
    return Pki()


@pytest.fixture(scope="module")
def sample() -> bytes:
    """The third-party sample packet (the project's own on a bare clone)."""
    return third_party_or_own(SAMPLE.name)


@pytest.fixture(scope="module")
def signed(pki: Pki, sample: bytes) -> bytes:
    """The sample signed by the test agency signer."""
    return sign(sample, pki.leaf.key, pki.leaf.chain)
