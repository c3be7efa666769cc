"""Reading the old-namespace (``http://www.e-doc.vn/Schema/``) packets of provincial eDoc hubs.

A Bkav-hub client sends a document as a SOAP message: the SOAP Header holds ``MessageHeader``,
``TraceHeaderList`` (with ``Business`` inside) and ``Signature/KeyInfo{OrganId,Token}``; the
SOAP Body holds ``Manifest/Reference`` elements naming MIME parts by ``cid:``. This module turns
those elements (already parsed by the caller's hardened parser) and the decoded MIME parts
into the same model as a QCVN 102 packet, so the core decides on both alike. Elements may be
in the old namespace or unqualified (some clients reset ``xmlns``); element order does not
matter. The credentials in ``KeyInfo`` are read separately (:func:`key_info`) and never enter
the model. Pure functions: no I/O.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from .errors import FieldInvalid, ManifestMismatch
from .model import NAMESPACE, Attachment, Envelope, ManifestReference, StatusMessage
from .parse import packet_from_element

EDOC_NS = "http://www.e-doc.vn/Schema/"
XLINK_NS = "http://www.w3.org/1999/xlink"
_Q = f"{{{NAMESPACE}}}"
# The hub's rebuilt form writes ``From/OrganInCharge``; the request form says
# ``OrganizationInCharge``. Both read as the same field.
_ALIASES = {"OrganInCharge": "OrganizationInCharge"}


@dataclass(frozen=True, slots=True)
class MimePart:
    """One attachment as it travels in a MIME part: its Content-ID (without ``<>``), its
    declared type and its bytes after the transfer encoding was undone."""

    content_id: str
    content_type: str | None
    data: bytes = dataclasses.field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """The credentials a hub client puts in ``Signature/KeyInfo``: an agency and its token."""

    organ_id: str
    token: str


def local_name(el: etree._Element) -> str | None:
    """Return the local name of an element in the old namespace or in none, else ``None``."""
    tag = el.tag
    if not isinstance(tag, str):
        return None
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return name if ns == EDOC_NS else None
    return tag


def child(parent: etree._Element | None, name: str) -> etree._Element | None:
    """Return the first child of ``parent`` named ``name`` (old namespace or unqualified)."""
    if parent is None:
        return None
    return next((c for c in parent if local_name(c) == name), None)


def child_text(parent: etree._Element | None, name: str) -> str | None:
    """Return the stripped text of ``parent``'s child ``name``; ``None`` when it is absent."""
    el = child(parent, name)
    if el is None:
        return None
    return (el.text or "").strip()


def key_info(header: etree._Element | None) -> KeyInfo | None:
    """Return ``Signature/KeyInfo{OrganId,Token}`` of a SOAP Header, or ``None``."""
    info = child(child(header, "Signature"), "KeyInfo")
    if info is None:
        return None
    return KeyInfo(child_text(info, "OrganId") or "", child_text(info, "Token") or "")


def _as_qcvn(el: etree._Element) -> etree._Element:
    """Copy an old-namespace subtree into the QCVN 102 namespace (same local names)."""
    out = copy.deepcopy(el)
    for node in out.iter():
        if not isinstance(node.tag, str):
            continue
        name = local_name(node)
        if name is None:
            continue  # foreign namespaces stay foreign and are ignored by the reader
        node.tag = _Q + _ALIASES.get(name, name)
    etree.cleanup_namespaces(out)
    return out


def _qcvn_packet(*header_children: etree._Element) -> etree._Element:
    root = etree.Element(_Q + "edXML", nsmap={None: NAMESPACE})
    envelope = etree.SubElement(root, _Q + "edXMLEnvelope")
    header = etree.SubElement(envelope, _Q + "edXMLHeader")
    header.extend(_as_qcvn(c) for c in header_children)
    return root


def read_document(
    header: etree._Element, body: etree._Element | None, parts: Mapping[str, MimePart]
) -> Envelope:
    """Read a SendDocument request (SOAP Header and Body children) into an ``Envelope``.

    ``parts`` maps Content-IDs to the decoded MIME attachments. Each manifest ``Reference``
    names one part by ``xlink:href`` (or ``href``) = ``cid:<Content-ID>``; the part's bytes
    become the attachment, base64-encoded as a QCVN 102 packet carries them.
    Raises ``FieldInvalid`` for a missing ``MessageHeader`` and ``ManifestMismatch`` for a
    reference without its part.
    """
    message = child(header, "MessageHeader")
    if message is None:
        raise FieldInvalid("MessageHeader is required", path="/Envelope/Header/MessageHeader")
    wanted = [message]
    traces = child(header, "TraceHeaderList")
    if traces is not None:
        wanted.append(traces)
    packet = packet_from_element(_qcvn_packet(*wanted))
    if not isinstance(packet, Envelope):
        raise FieldInvalid("MessageHeader is not a document", path="/Envelope/Header")
    refs, attachments = _manifest(child(body, "Manifest"), parts)
    return dataclasses.replace(packet, manifest=refs, attachments=attachments)


def _href(ref: etree._Element) -> str:
    value = ref.get(f"{{{XLINK_NS}}}href") or ref.get("href") or ""
    value = value.strip()
    return value[4:] if value.lower().startswith("cid:") else value


def _manifest(
    manifest: etree._Element | None, parts: Mapping[str, MimePart]
) -> tuple[tuple[ManifestReference, ...], tuple[Attachment, ...]]:
    if manifest is None:
        return (), ()
    refs: list[ManifestReference] = []
    attachments: list[Attachment] = []
    for index, ref in enumerate((c for c in manifest if local_name(c) == "Reference"), 1):
        path = f"/Envelope/Body/Manifest/Reference[{index}]"
        content_id = _href(ref)
        if not content_id:
            raise FieldInvalid("Reference needs xlink:href=cid:...", path=path)
        part = parts.get(content_id)
        if part is None:
            raise ManifestMismatch(f"no MIME part with Content-ID <{content_id}>", path=path)
        content_type = (
            child_text(ref, "ContentType") or ref.get(f"{{{XLINK_NS}}}type") or part.content_type
        )
        name = child_text(ref, "AttachmentName")
        description = child_text(ref, "Description")
        refs.append(ManifestReference(content_id, content_type, description, name))
        attachments.append(
            Attachment(
                content_id=content_id,
                attachment_name=name,
                description=description,
                content_type=content_type,
                encoded=base64.b64encode(part.data).decode("ascii"),
            )
        )
    return tuple(refs), tuple(attachments)


def read_status(status: etree._Element) -> StatusMessage:
    """Read an UpdateTraces ``Status`` element into a ``StatusMessage``.

    Status codes are read unpadded or padded (``"1"`` and ``"01"``); raises the reader's
    ``FieldInvalid`` / ``StatusCodeInvalid`` for a status it cannot read.
    """
    packet = packet_from_element(_qcvn_packet(status))
    if not isinstance(packet, StatusMessage):
        raise FieldInvalid("Status is not a status message", path="/Envelope/Body/Status")
    return packet
