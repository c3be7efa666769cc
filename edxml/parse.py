"""Safe, order-insensitive reading of edXML packets into the typed model.

Untrusted bytes become a tree in ``edxml.safexml.safe_fromstring`` (re-exported here).
``packet_from_element`` reads an
already-parsed tree (signature verification builds the model from the signed element only).
The reader is tolerant: element order does not matter, unknown elements are ignored, both
``Bussiness`` and ``Business`` are accepted, and a ``MessageHeader`` that carries a status
is read as a status message.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from typing import TypeVar

from lxml import etree

from .errors import (
    FieldInvalid,
    LimitExceeded,
    StatusCodeInvalid,
    WrongNamespace,
)
from .model import (
    NAMESPACE,
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    Code,
    DocumentType,
    Envelope,
    ManifestReference,
    MessageHeader,
    Organization,
    OtherInfo,
    PromulgationInfo,
    Receiver,
    ReplacementInfo,
    ResponseFor,
    SignatureInfo,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusMessage,
    TraceHeader,
)
from .safexml import DEFAULT_LIMITS, Limits, safe_fromstring

XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")

_T = TypeVar("_T")


def parse(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Envelope | StatusMessage:
    """Read untrusted edXML bytes into an ``Envelope`` or a ``StatusMessage``.

    Raises the ``EdxmlError`` subclasses of :func:`safe_fromstring` and
    :func:`packet_from_element`.
    """
    if len(data) >= _BIG_PACKET and len(data) <= limits.max_bytes:
        packet = _parse_big(data, limits)
        if packet is not None:
            return packet
    root = safe_fromstring(data, limits)
    return packet_from_element(root)


# A packet this big almost always carries its size in base64 attachments.
_BIG_PACKET = 4 * 2**20
_BIG_TEXT = 256 * 2**10
_CTE_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?ContentTransferEncoded\b[^<>]*>")
_BASE64_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n\t "
_CHUNK = 2**20


def _plain_base64(view: memoryview) -> bool:
    # Chunked so that no full-size copy is made; translate() runs at memory speed.
    return not any(
        view[i : i + _CHUNK].tobytes().translate(None, _BASE64_BYTES)
        for i in range(0, len(view), _CHUNK)
    )


def _cte_text_starts(data: bytes) -> Iterator[int]:
    # bytes.find runs at memchr speed; the regex only confirms a start tag around each hit.
    idx = data.find(b"ContentTransferEncoded")
    while idx >= 0:
        lt = data.rfind(b"<", max(0, idx - 64), idx)
        match = _CTE_START.match(data, lt) if lt >= 0 else None
        if match is not None:
            yield match.end()
        idx = data.find(b"ContentTransferEncoded", idx + 22)


def _parse_big(data: bytes, limits: Limits) -> Envelope | StatusMessage | None:
    """Parse a big packet without holding its base64 text twice (tree and model).

    Each long base64 run inside a ``ContentTransferEncoded`` start tag is cut out and
    replaced by a random token; the rest (a few KB) goes through :func:`safe_fromstring`.
    The cut text is used only where the parsed tree shows the token as the exact text of a
    ``ContentTransferEncoded`` element; anything else (a token inside a comment, CDATA, an
    attribute) falls back to the ordinary parse. Only ASCII base64 characters without
    ``\\r`` or ``&`` are cut, so the text is exactly what the XML parser would have produced.
    """
    view = memoryview(data)
    pieces: list[bytes | memoryview] = []
    texts: dict[str, memoryview] = {}
    token = secrets.token_hex(16)
    pos = 0
    for start in _cte_text_starts(data):
        if start < pos:
            continue
        end = data.find(b"<", start)
        if end < 0 or end - start < _BIG_TEXT:
            continue
        if not _plain_base64(view[start:end]):
            continue
        if end - start > limits.max_text_bytes:
            raise LimitExceeded(f"text node longer than {limits.max_text_bytes}")
        key = f"{token}{len(texts)}"
        texts[key] = view[start:end]
        pieces += (view[pos:start], key.encode("ascii"))
        pos = end
    if not texts:
        return None
    pieces.append(view[pos:])
    root = safe_fromstring(b"".join(pieces), limits)
    placed = [
        el
        for el in root.iter(f"{{{NAMESPACE}}}ContentTransferEncoded", "ContentTransferEncoded")
        if el.text in texts
    ]
    if sorted(el.text for el in placed) != sorted(texts):
        return None
    encoded = {key: str(text, "ascii") for key, text in texts.items()}
    return _packet(root, encoded)


# ---------------------------------------------------------------------------------------------
# Tree reading helpers


def _local(el: etree._Element) -> str | None:
    tag = el.tag
    if not isinstance(tag, str):
        return None  # comment or processing instruction
    if tag[0] == "{":
        ns, _, name = tag[1:].partition("}")
        return name if ns == NAMESPACE else None
    return tag  # no namespace: tolerated (some producers reset xmlns="")


class _Node:
    """Children of one element indexed by local name, in document order."""

    __slots__ = ("by_name", "el", "path")

    def __init__(self, el: etree._Element, path: str) -> None:
        self.el = el
        self.path = path
        self.by_name: dict[str, list[etree._Element]] = {}
        for child in el:
            name = _local(child)
            if name is not None:
                self.by_name.setdefault(name, []).append(child)

    def has(self, *names: str) -> bool:
        return any(name in self.by_name for name in names)

    def first(self, *names: str) -> etree._Element | None:
        for name in names:
            found = self.by_name.get(name)
            if found:
                return found[0]
        return None

    def all(self, name: str) -> list[etree._Element]:
        return self.by_name.get(name, [])

    def child(self, *names: str) -> _Node | None:
        el = self.first(*names)
        return None if el is None else _Node(el, f"{self.path}/{_local(el)}")

    def children(self, name: str) -> list[_Node]:
        return [_Node(el, f"{self.path}/{name}[{i}]") for i, el in enumerate(self.all(name), 1)]

    def text(self, name: str) -> str | None:
        el = self.first(name)
        return None if el is None else _text(el)

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise FieldInvalid(f"{name} is required", path=f"{self.path}/{name}")
        return value

    def integer(self, name: str) -> int | None:
        return self._convert(name, _to_int)

    def day(self, name: str) -> date | None:
        return self._convert(name, _to_date)

    def instant(self, name: str) -> datetime | None:
        return self._convert(name, _to_datetime)

    def _convert(self, name: str, conv: Callable[[str], _T]) -> _T | None:
        value = self.text(name)
        if not value:
            return None
        try:
            return conv(value)
        except ValueError as exc:
            raise FieldInvalid(f"{name}: {value!r}", path=f"{self.path}/{name}") from exc


def _text(el: etree._Element) -> str:
    raw = el.text
    if raw is None:
        return ""
    value: str = raw.strip()
    if value.isascii() or unicodedata.is_normalized("NFC", value):
        return value
    return unicodedata.normalize("NFC", value)


def _to_int(text: str) -> int:
    if not text.strip().lstrip("+-").isdigit():
        raise ValueError(text)
    return int(text)


_DATE_FORMATS = ("%Y/%m/%d", "%d/%m/%Y", "%Y-%m-%d")
_DATETIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
)


def _to_date(text: str) -> date:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    # Some producers put a timestamp where a date belongs.
    return _to_datetime(text).date()


def _to_datetime(text: str) -> datetime:
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=VIETNAM_TZ)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = datetime.strptime(text, "%Y/%m/%d")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VIETNAM_TZ)


# ---------------------------------------------------------------------------------------------
# Packet reading


def packet_from_element(root: etree._Element) -> Envelope | StatusMessage:
    """Build the model from an already-parsed tree (the ``edXML`` root or its envelope).

    Raises ``WrongNamespace`` when the root or envelope is not edXML, ``FieldInvalid`` for
    a missing required field or an unreadable value, ``StatusCodeInvalid`` for an unknown
    status code.
    """
    return _packet(root, {})


def _packet(root: etree._Element, encoded: dict[str, str]) -> Envelope | StatusMessage:
    if not isinstance(root.tag, str) or root.tag not in (
        f"{{{NAMESPACE}}}edXML",
        f"{{{NAMESPACE}}}edXMLEnvelope",
    ):
        raise WrongNamespace(f"root element is {root.tag!r}", path="/")
    if root.tag.endswith("}edXMLEnvelope"):
        top = None
        envelope = _Node(root, "/edXMLEnvelope")
    else:
        top = _Node(root, "/edXML")
        envelope = top.child("edXMLEnvelope")  # type: ignore[assignment]
        if envelope is None:
            raise WrongNamespace("edXMLEnvelope missing", path="/edXML/edXMLEnvelope")
    header = envelope.child("edXMLHeader")
    if header is None:
        raise FieldInvalid("edXMLHeader is required", path=f"{envelope.path}/edXMLHeader")
    signature = _signature(header) or (_signature(top) if top is not None else None)
    traces, business = _trace_list(header.child("TraceHeaderList"))

    status = header.child("Status")
    message = header.child("MessageHeader")
    if status is None and message is not None and _looks_like_status(message):
        status = message
    if status is not None:
        return _status(status, traces, signature)
    if message is None:
        raise FieldInvalid("MessageHeader is required", path=f"{header.path}/MessageHeader")
    manifest_version, manifest = _manifest(envelope.child("edXMLBody"))
    attachments: tuple[Attachment, ...] = ()
    if top is not None:
        attachments = _attachments(top.child("AttachmentEncoded"), encoded)
    return Envelope(
        header=_message_header(message),
        traces=traces,
        business=business,
        manifest=manifest,
        attachments=attachments,
        manifest_version=manifest_version,
        signature=signature,
    )


def _looks_like_status(node: _Node) -> bool:
    return not node.has("To") and node.has("StatusCode", "ResponseFor")


def _organization(node: _Node) -> Organization:
    return Organization(
        organ_id=node.required("OrganId"),
        organization_in_charge=node.text("OrganizationInCharge"),
        organ_name=node.text("OrganName"),
        organ_add=node.text("OrganAdd"),
        email=node.text("Email"),
        telephone=node.text("Telephone"),
        fax=node.text("Fax"),
        website=node.text("Website"),
    )


def _response_for(node: _Node) -> ResponseFor:
    return ResponseFor(
        organ_id=node.text("OrganId"),
        code=node.text("Code"),
        promulgation_date=node.day("PromulgationDate"),
        document_id=node.text("DocumentId"),
    )


def _staff_info(node: _Node | None) -> StaffInfo | None:
    if node is None:
        return None
    return StaffInfo(
        department=node.text("Department"),
        staff=node.text("Staff"),
        email=node.text("Email"),
        mobile=node.text("Mobile"),
    )


def _message_header(node: _Node) -> MessageHeader:
    sender = node.child("From")
    if sender is None:
        raise FieldInvalid("From is required", path=f"{node.path}/From")
    code = node.child("Code")
    promulgation = node.child("PromulgationInfo")
    doc_type = node.child("DocumentType")
    signer = node.child("SignerInfo")
    to_places = node.child("ToPlaces")
    return MessageHeader(
        from_=_organization(sender),
        to=tuple(_organization(to) for to in node.children("To")),
        document_id=node.text("DocumentId"),
        code=None
        if code is None
        else Code(
            code_number=code.text("CodeNumber") or "", code_notation=code.text("CodeNotation") or ""
        ),
        promulgation_info=None
        if promulgation is None
        else PromulgationInfo(
            place=promulgation.text("Place"),
            promulgation_date=promulgation.day("PromulgationDate"),
        ),
        document_type=None
        if doc_type is None
        else DocumentType(
            type=doc_type.integer("Type"),
            type_detail=doc_type.integer("TypeDetail"),
            type_name=doc_type.text("TypeName"),
        ),
        subject=node.text("Subject"),
        content=node.text("Content"),
        signer_info=None
        if signer is None
        else SignerInfo(
            competence=signer.text("Competence"),
            position=signer.text("Position"),
            full_name=signer.text("FullName"),
        ),
        due_date=node.day("DueDate"),
        other_info=_other_info(node.child("OtherInfo")),
        response_for=tuple(_response_for(r) for r in node.children("ResponseFor")),
        steering_type=node.integer("SteeringType"),
        to_places=None if to_places is None else tuple(_text(p) for p in to_places.all("Place")),
    )


def _other_info(node: _Node | None) -> OtherInfo | None:
    if node is None:
        return None
    appendixes = node.child("Appendixes")
    return OtherInfo(
        priority=node.integer("Priority"),
        sphere_of_promulgation=node.text("SphereOfPromulgation"),
        typer_notation=node.text("TyperNotation"),
        promulgation_amount=node.integer("PromulgationAmount"),
        page_amount=node.integer("PageAmount"),
        direction=node.text("Direction"),
        appendixes=None
        if appendixes is None
        else tuple(_text(a) for a in appendixes.all("Appendix")),
    )


def _trace_list(node: _Node | None) -> tuple[tuple[TraceHeader, ...], Business | None]:
    if node is None:
        return (), None
    traces = tuple(
        TraceHeader(organ_id=t.required("OrganId"), timestamp=t.instant("Timestamp"))
        for t in node.children("TraceHeader")
    )
    business = node.child("Bussiness", "Business")
    return traces, None if business is None else _business(business)


def _business(node: _Node) -> Business:
    doc_type = node.integer("BussinessDocType")
    if doc_type is None:
        doc_type = node.integer("BusinessDocType")
    info = node.child("BussinessDocumentInfo", "BusinessDocumentInfo")
    replacements = node.child("ReplacementInfoList")
    return Business(
        document_id=node.text("DocumentId"),
        doc_type=_doc_type(doc_type),
        reason=node.text("BussinessDocReason")
        if node.has("BussinessDocReason")
        else node.text("BusinessDocReason"),
        paper=node.integer("Paper"),
        staff_info=_staff_info(node.child("StaffInfo")),
        document_info=None if info is None else _business_info(info),
        replacements=()
        if replacements is None
        else tuple(_replacement(r) for r in replacements.children("ReplacementInfo")),
    )


def _doc_type(value: int | None) -> int:
    if value is None:
        return BusinessDocType.NEW
    try:
        return BusinessDocType(value)
    except ValueError:
        return value  # out of range: kept so that the schema/rules report it


def _business_info(node: _Node) -> BusinessDocumentInfo:
    receivers: list[Receiver] = []
    receiver_list = node.child("ReceiverList")
    if receiver_list is not None:
        for receiver in receiver_list.children("Receiver"):
            kind = receiver.integer("ReceiverType")
            if kind is None:
                raise FieldInvalid("ReceiverType is required", path=f"{receiver.path}/ReceiverType")
            receivers.append(Receiver(organ_id=receiver.required("OrganId"), receiver_type=kind))
    return BusinessDocumentInfo(
        document_info=node.text("DocumentInfo"),
        document_receiver=node.text("DocumentReceiver"),
        receivers=tuple(receivers),
    )


def _replacement(node: _Node) -> ReplacementInfo:
    organs = node.child("OrganIdList")
    return ReplacementInfo(
        document_id=node.required("DocumentId"),
        organ_ids=() if organs is None else tuple(_text(o) for o in organs.all("OrganId")),
    )


def _manifest(body: _Node | None) -> tuple[str | None, tuple[ManifestReference, ...]]:
    manifest = None if body is None else body.child("edXMLManifest")
    if manifest is None:
        return None, ()
    refs = tuple(
        ManifestReference(
            content_id=ref.required("ContentId"),
            content_type=ref.text("ContentType"),
            description=ref.text("Description"),
            attachment_name=ref.text("AttachmentName"),
        )
        for ref in manifest.children("Reference")
    )
    return manifest.el.get("version"), refs


def _attachments(node: _Node | None, cut: dict[str, str]) -> tuple[Attachment, ...]:
    if node is None:
        return ()
    found: list[Attachment] = []
    for att in node.children("Attachment"):
        encoded_el = att.first("ContentTransferEncoded")
        # The base64 text is kept exactly as sent (no strip, no NFC): it can be 100 MB and
        # every transformation would copy it.
        encoded = "" if encoded_el is None else encoded_el.text or ""
        encoded = cut.get(encoded, encoded)
        found.append(
            Attachment(
                content_id=att.required("ContentId"),
                attachment_name=att.text("AttachmentName"),
                description=att.text("Description"),
                content_type=att.text("ContentType"),
                encoded=encoded,
            )
        )
    return tuple(found)


def _status(
    node: _Node, traces: tuple[TraceHeader, ...], signature: SignatureInfo | None
) -> StatusMessage:
    sender = node.child("From")
    if sender is None:
        raise FieldInvalid("From is required", path=f"{node.path}/From")
    response_for = node.child("ResponseFor")
    if response_for is None:
        raise FieldInvalid("ResponseFor is required", path=f"{node.path}/ResponseFor")
    return StatusMessage(
        from_=_organization(sender),
        response_for=_response_for(response_for),
        status_code=status_code_from_text(node.text("StatusCode"), path=f"{node.path}/StatusCode"),
        staff_info=_staff_info(node.child("StaffInfo")),
        description=node.text("Description"),
        timestamp=node.instant("Timestamp"),
        traces=traces,
        container="Status" if node.el.tag.endswith("}Status") else "MessageHeader",
        signature=signature,
    )


def status_code_from_text(text: str | None, *, path: str = "") -> StatusCode:
    """Read a wire status code (``"05"``, ``"5"``); ``14`` is read as ``15``."""
    if not text or not text.isdigit():
        raise StatusCodeInvalid(repr(text), path=path)
    value = int(text)
    if value == 14:
        value = StatusCode.RECALL_AGREED
    try:
        return StatusCode(value)
    except ValueError as exc:
        raise StatusCodeInvalid(text, path=path) from exc


def _signature(node: _Node | None) -> SignatureInfo | None:
    if node is None:
        return None
    el = node.first("Signature")
    namespace = NAMESPACE
    if el is None:
        el = node.el.find(f"{{{XMLDSIG_NS}}}Signature")
        namespace = XMLDSIG_NS
    if el is None:
        return None
    ns = f"{{{namespace}}}" if el.tag.startswith("{") else ""
    method = el.find(f"{ns}SignedInfo/{ns}SignatureMethod")
    c14n = el.find(f"{ns}SignedInfo/{ns}CanonicalizationMethod")
    subject = el.find(f"{ns}KeyInfo/{ns}X509Data/{ns}X509SubjectName")
    return SignatureInfo(
        namespace=namespace,
        signature_method=None if method is None else method.get("Algorithm"),
        canonicalization_method=None if c14n is None else c14n.get("Algorithm"),
        subject_name=None if subject is None else _text(subject) or None,
    )
