"""Conformance packets: the project's own fixtures, and the third-party samples read in place.

``tests/conformance/packets/`` holds packets written by this project (see ``generate.py``), one
per wire quirk; they are always there. The third-party samples of the national axis and of a
provincial hub live outside the repository in ``../shared/conformance/`` and are read in place
when present (CI has them); a test that needs them says so plainly when they are absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OWN_DIR = Path(__file__).resolve().parent / "packets"
OWN_MALFORMED_DIR = OWN_DIR / "malformed"
THIRD_PARTY_DIR = REPO.parent / "shared" / "conformance"
THIRD_PARTY_REAL = THIRD_PARTY_DIR / "real"
THIRD_PARTY_MALFORMED = THIRD_PARTY_DIR / "malformed"
ABSENT = (
    "third-party conformance packets are not beside this clone (../shared/conformance is "
    "absent, as in a bare git clone); the project's own fixtures in tests/conformance/packets "
    "cover each quirk"
)
OWN_NAMES = tuple(sorted(p.name for p in OWN_DIR.glob("*.edxml")))
OWN_MALFORMED_NAMES = tuple(sorted(p.name for p in OWN_MALFORMED_DIR.glob("*.edxml")))
OWN_DOCUMENT = "document-new.edxml"
OWN_STATUS = "status-message-header.edxml"


def own(name: str) -> bytes:
    """Return the bytes of one of the project's own conformance packets."""
    return (OWN_DIR / name).read_bytes()


def own_malformed(name: str = OWN_MALFORMED_NAMES[0]) -> bytes:
    """Return the bytes of one of the project's own malformed packets."""
    return (OWN_MALFORMED_DIR / name).read_bytes()


def third_party_present() -> bool:
    """Whether the third-party samples are beside the clone."""
    return THIRD_PARTY_REAL.is_dir()


def third_party_real_dir() -> Path:
    """The third-party real packets' folder; the calling test is skipped, saying why, when
    the folder is absent."""
    if not third_party_present():
        # Not a missing feature: the samples are another party's and are never copied into
        # the repository; the project's own fixture for the same quirk runs in every clone.
        pytest.skip(ABSENT)
    return THIRD_PARTY_REAL


def third_party_malformed_dir() -> Path:
    """The third-party malformed packets' folder (skipped, saying why, when absent)."""
    if not THIRD_PARTY_MALFORMED.is_dir():  # as above: own malformed fixtures run instead
        pytest.skip(ABSENT)
    return THIRD_PARTY_MALFORMED


def third_party_or_own(name: str, fallback: str = OWN_DOCUMENT) -> bytes:
    """A third-party sample when present, else the project's own packet with the same quirks
    (for tests that need *a* real-shaped packet, not the sample's particular values)."""
    path = THIRD_PARTY_REAL / name
    return path.read_bytes() if path.is_file() else own(fallback)
