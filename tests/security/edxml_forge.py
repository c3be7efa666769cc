"""What the hostile edXML tests share: the samples, the test PKI, the whole-pipeline refusal
check and the packet editing helpers.

The fixtures built from these (``pki``, ``sample``, ``signed``) are in
``tests/security/conftest.py``; the attacks are in ``test_edxml_hostile_xml.py``,
``test_edxml_hostile_signature.py``, ``test_edxml_hostile_attachments.py`` and
``test_edxml_hostile_mutation.py``.
"""

from __future__ import annotations

import base64
import copy
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


# -- signature-wrapping attacks (used here on edXML and by the HTTP corpus, hostile_packets) --


def move_signature_to_root(root: etree._Element) -> None:
    """Move the signature out of the header to the root."""
    root.append(header(root)[-1])


def duplicate_signature(root: etree._Element) -> None:
    """Add a second copy of the signature to the header."""
    header(root).append(copy.deepcopy(header(root)[-1]))


def _unsigned_copy(root: etree._Element, sender: str) -> etree._Element:
    forged = copy.deepcopy(root.find(f"{NS}edXMLEnvelope"))
    sig = forged.find(f".//{DS}Signature")
    sig.getparent().remove(sig)
    forged.find(f".//{NS}From/{NS}OrganId").text = sender
    return forged


def second_envelope(root: etree._Element, sender: str) -> None:
    """Put an unsigned envelope from the forged ``sender`` before the signed one."""
    root.insert(0, _unsigned_copy(root, sender))


def envelope_in_foreign_element(root: etree._Element, sender: str) -> None:
    """Hide an unsigned envelope from ``sender`` in a foreign-namespace element at the end of
    the root (the schema lets those through)."""
    etree.SubElement(root, "{urn:example:evil}Wrapper").append(_unsigned_copy(root, sender))


def reparent_signed_envelope(root: etree._Element, sender: str) -> None:
    """Classic wrapping: the signed envelope hides inside the signature, a forged one from
    ``sender`` takes its place."""
    original = root.find(f"{NS}edXMLEnvelope")
    forged = copy.deepcopy(original)
    forged.find(f".//{NS}From/{NS}OrganId").text = sender
    sig = original.find(f".//{DS}Signature")
    holder = etree.SubElement(sig, f"{DS}Object")
    root.replace(original, forged)
    forged_header = forged.find(f"{NS}edXMLHeader")
    forged_header.remove(forged_header[-1])
    forged_header.append(sig)
    holder.append(original)


def comment_in_sender(root: etree._Element, tail: str) -> None:
    """Split the sender code with a comment (not digested under exclusive C14N), so that
    a reader ignoring comments sees ``000.00.00.<tail>``."""
    organ = root.find(f".//{NS}From/{NS}OrganId")
    organ.text = "000.00.00."
    comment = etree.Comment("wrapping")
    comment.tail = tail
    organ.append(comment)


def with_attachment(sample: bytes, data: bytes, name: str, content_type: str) -> bytes:
    """``sample`` carrying ``data`` as its attachment, named and typed as given."""

    def change(root: etree._Element) -> None:
        att = root.find("{*}AttachmentEncoded/{*}Attachment")
        ref = root.find(f".//{NS}edXMLManifest/{NS}Reference")
        for el in (att, ref):
            el.find("{*}AttachmentName").text = name
            el.find("{*}ContentType").text = content_type
        att.find(f"{NS}ContentTransferEncoded").text = base64.b64encode(data).decode()

    return edit(sample, change)
