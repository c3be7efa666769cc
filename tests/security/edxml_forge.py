"""What the hostile edXML tests share: the samples, the test PKI, the whole-pipeline refusal
check and the packet editing helpers.

The fixtures built from these (``pki``, ``sample``, ``signed``) are in
``tests/security/conftest.py``; the attacks are in ``test_edxml_hostile_xml.py``,
``test_edxml_hostile_signature.py``, ``test_edxml_hostile_attachments.py`` and
``test_edxml_hostile_mutation.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from edxml.errors import EdxmlError
from edxml.model import NAMESPACE
from edxml.parse import Limits
from edxml.pipeline import check_packet
from edxml.signature import DSIG
from tests.pki import make_ca, make_leaf

REAL = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "real"
MALFORMED = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "malformed"
SAMPLE = REAL / "vpcp-sample-dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
NS = f"{{{NAMESPACE}}}"
DS = f"{{{DSIG}}}"
TODAY = datetime(2026, 1, 1).date()


class Pki:
    """A test root CA and an agency signer (a clerk) it issued."""

    def __init__(self) -> None:
        self.root = make_ca("Hostile Test Root")
        self.leaf = make_leaf(self.root, "Văn thư")


def refused(
    data: bytes,
    code: str,
    *,
    policy: str = "strict",
    anchors: list | None = None,
    limits: Limits | None = None,
) -> EdxmlError:
    """Run the whole pipeline and assert it refuses ``data`` with ``code``."""
    kwargs = {"limits": limits} if limits else {}
    with pytest.raises(EdxmlError) as info:
        check_packet(data, policy=policy, trust_anchors=anchors or [], today=TODAY, **kwargs)
    err = info.value
    assert err.code == code, f"{err.code}: {err}"
    assert err.path.startswith("/"), err.path
    assert err.message_vi and err.message_en and err.message_vi != err.message_en
    assert err.text_vi.startswith(err.message_vi)
    return err


def edit(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    """Parse ``data``, apply ``change`` to its root and serialise it again."""
    root = etree.fromstring(data)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def header(root: etree._Element) -> etree._Element:
    """The ``edXMLHeader`` of a packet (it must be there)."""
    el = root.find(f"{NS}edXMLEnvelope/{NS}edXMLHeader")
    assert el is not None
    return el
