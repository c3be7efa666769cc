"""Writing edXML packets from the model.

``build`` writes the canonical element order of the national axis sample
(``vpcp-sample-dc0bdef0-*.edxml``): UTF-8, XML declaration, ``edXML`` prefix declared on the
envelope, ``AttachmentEncoded`` children unprefixed. ``None`` fields are left out, ``""``
fields are written as empty elements, so ``parse(build(parse(x))) == parse(x)``.

The blocks edXML shares with the old e-doc.vn form are written by
:mod:`edxml.build_elements`; the helpers that make new packets (new document, recall,
update, replace, status) live in :mod:`edxml.build_documents` and :mod:`edxml.build_status`
and are re-exported here.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence

from lxml import etree

from .build_documents import document_id, manifest_for, new_document, recall, replace, update
from .build_elements import EDXML
from .build_status import STATUS_DESCRIPTIONS, status_message
from .errors import FieldInvalid
from .model import NAMESPACE, Attachment, Business, Envelope, StatusMessage, TraceHeader

__all__ = [
    "STATUS_DESCRIPTIONS",
    "build",
    "document_id",
    "manifest_for",
    "new_document",
    "recall",
    "replace",
    "status_message",
    "update",
]

_NS = EDXML.prefix
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_sub = EDXML.sub
_opt = EDXML.opt


def build(packet: Envelope | StatusMessage) -> bytes:
    """Serialise a packet to UTF-8 edXML bytes in the canonical element order.

    Raises ``FieldInvalid`` when a text value cannot be written as XML (control characters).
    """
    root = etree.Element(_NS + "edXML", nsmap={None: NAMESPACE})
    envelope = etree.SubElement(root, _NS + "edXMLEnvelope", nsmap={"edXML": NAMESPACE})
    header = _sub(envelope, "edXMLHeader")
    big: dict[str, str] = {}
    try:
        if isinstance(packet, StatusMessage):
            EDXML.status(_sub(header, packet.container or "Status"), packet)
            if packet.traces:
                _trace_list(_sub(header, "TraceHeaderList"), packet.traces, None)
        else:
            EDXML.message_header(_sub(header, "MessageHeader"), packet.header)
            if packet.traces or packet.business is not None:
                _trace_list(_sub(header, "TraceHeaderList"), packet.traces, packet.business)
            if packet.manifest_version is not None or packet.manifest:
                _manifest(envelope, packet)
            if packet.attachments:
                big = _attachments(root, packet.attachments)
    except (ValueError, TypeError) as exc:
        raise FieldInvalid(f"value cannot be written as XML: {exc}") from exc
    out = _DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)
    return _splice(out, big) if big else out


def _trace_list(
    el: etree._Element, traces: Iterable[TraceHeader], business: Business | None
) -> None:
    if business is not None:
        _business(_sub(el, "Bussiness"), business)
    for trace in traces:
        th = _sub(el, "TraceHeader")
        _sub(th, "OrganId", trace.organ_id)
        _opt(th, "Timestamp", trace.timestamp)


def _business(el: etree._Element, b: Business) -> None:
    _opt(el, "DocumentId", b.document_id)
    _sub(el, "BussinessDocType", str(int(b.doc_type)))
    _opt(el, "BussinessDocReason", b.reason)
    _opt(el, "Paper", b.paper)
    if b.document_info is not None:
        info = _sub(el, "BussinessDocumentInfo")
        _opt(info, "DocumentInfo", b.document_info.document_info)
        _opt(info, "DocumentReceiver", b.document_info.document_receiver)
        if b.document_info.receivers:
            receivers = _sub(info, "ReceiverList")
            for r in b.document_info.receivers:
                rec = _sub(receivers, "Receiver")
                _sub(rec, "OrganId", r.organ_id)
                _sub(rec, "ReceiverType", str(int(r.receiver_type)))
    EDXML.staff_info(el, b.staff_info)
    if b.replacements:
        replacements = _sub(el, "ReplacementInfoList")
        for rep in b.replacements:
            info = _sub(replacements, "ReplacementInfo")
            _sub(info, "DocumentId", rep.document_id)
            organs = _sub(info, "OrganIdList")
            for organ in rep.organ_ids:
                _sub(organs, "OrganId", organ)


def _manifest(envelope: etree._Element, packet: Envelope) -> None:
    manifest = _sub(_sub(envelope, "edXMLBody"), "edXMLManifest")
    if packet.manifest_version is not None:
        manifest.set("version", packet.manifest_version)
    for ref in packet.manifest:
        el = _sub(manifest, "Reference")
        _sub(el, "ContentId", ref.content_id)
        _opt(el, "ContentType", ref.content_type)
        _opt(el, "Description", ref.description)
        _opt(el, "AttachmentName", ref.attachment_name)


def _attachments(root: etree._Element, attachments: Sequence[Attachment]) -> dict[str, str]:
    # The base64 text is spliced into the output afterwards: putting 100 MB into the lxml
    # tree and serialising it again would hold three more copies of it.
    token = secrets.token_hex(16)
    big: dict[str, str] = {}
    container = _sub(root, "AttachmentEncoded")
    for i, att in enumerate(attachments):
        el = _sub(container, "Attachment")
        _sub(el, "ContentId", att.content_id)
        _opt(el, "AttachmentName", att.attachment_name)
        _opt(el, "Description", att.description)
        _opt(el, "ContentType", att.content_type)
        cte = etree.SubElement(el, _NS + "ContentTransferEncoded", nsmap={"edXML": NAMESPACE})
        if _splicable(att.encoded):
            key = f"{token}.{i}"
            cte.text = key
            big[key] = att.encoded
        else:
            cte.text = att.encoded
    return big


def _splicable(text: str) -> bool:
    return text.isascii() and "<" not in text and "&" not in text and "\r" not in text


def _splice(out: bytes, big: dict[str, str]) -> bytes:
    pieces: list[bytes] = []
    rest = out
    for key, text in big.items():
        before, sep, rest = rest.partition(key.encode("ascii"))
        if not sep:
            raise FieldInvalid("attachment placeholder lost while serialising")
        pieces += (before, text.encode("ascii"))
    pieces.append(rest)
    return b"".join(pieces)
