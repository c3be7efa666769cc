"""Writing the blocks that edXML and the old e-doc.vn form share, in either form.

Both forms write organisations, ``ResponseFor``, ``StaffInfo``, ``OtherInfo``, the
``MessageHeader`` and the status with the same children. They differ in namespace, in how
dates are spelled, in the name of the in-charge element, and in a few elements (``TypeDetail``,
``Direction``, where ``ToPlaces`` sits, a padded status code). An :class:`ElementWriter` holds
one form's choices; :data:`EDXML` is QCVN 102's, ``edxml.edoc_vn_build`` defines the hub's.
``None`` values are left out, ``""`` values are written as empty elements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from lxml import etree

from .model import (
    NAMESPACE,
    MessageHeader,
    Organization,
    OtherInfo,
    ResponseFor,
    StaffInfo,
    StatusCode,
    StatusMessage,
)

_VIETNAM_TZ = timezone(timedelta(hours=7))
_VIETNAM_OFFSET = _VIETNAM_TZ.utcoffset(None)


@dataclass(frozen=True)
class ElementWriter:
    """One written form: its namespace, date spellings and the elements it differs in."""

    namespace: str
    date_format: str
    datetime_format: str
    sender_in_charge: str | None
    """Element naming ``From``'s organisation in charge (``None``: not written)."""
    recipient_in_charge: str | None
    """The same for ``To``."""
    type_detail: bool
    """Whether ``DocumentType`` carries ``TypeDetail``."""
    direction: bool
    """Whether ``OtherInfo`` carries ``Direction``."""
    to_places_last: bool
    """``ToPlaces`` after ``SteeringType`` (edXML) or before ``OtherInfo`` (the hub)."""
    padded_status: bool
    """``StatusCode`` as two digits (``"05"``) or as the bare number."""
    prefix: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", f"{{{self.namespace}}}")

    def sub(self, parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        """Append ``<name>`` in this namespace to ``parent``, with ``text`` unless ``None``.

        lxml raises ``ValueError`` for text XML cannot hold (control characters) and
        ``TypeError`` for a value that is not a string.
        """
        el = etree.SubElement(parent, self.prefix + name)
        if text is not None:
            el.text = text
        return el

    def opt(self, parent: etree._Element, name: str, value: object) -> None:
        """Append ``<name>`` for a value that is present: dates and timestamps in this
        form's spelling (timestamps in Vietnamese time), numbers in decimal."""
        if value is None:
            return
        if isinstance(value, datetime):
            text = self.timestamp(value)
        elif isinstance(value, date):
            text = value.strftime(self.date_format)
        else:
            text = str(int(value)) if isinstance(value, int) else str(value)
        self.sub(parent, name, text)

    def timestamp(self, value: datetime) -> str:
        """Spell ``value`` in Vietnamese time (a naive value is taken as already so)."""
        if value.tzinfo is not None:
            offset = value.utcoffset()
            if offset is not None and offset != _VIETNAM_OFFSET:
                value = value.astimezone(_VIETNAM_TZ)
        return value.strftime(self.datetime_format)

    def organization(self, el: etree._Element, org: Organization, in_charge: str | None) -> None:
        """Fill a ``From``/``To`` element; ``in_charge`` names the in-charge element."""
        self.sub(el, "OrganId", org.organ_id)
        if in_charge is not None:
            self.opt(el, in_charge, org.organization_in_charge)
        self.opt(el, "OrganName", org.organ_name)
        self.opt(el, "OrganAdd", org.organ_add)
        self.opt(el, "Email", org.email)
        self.opt(el, "Telephone", org.telephone)
        self.opt(el, "Fax", org.fax)
        self.opt(el, "Website", org.website)

    def response_for(self, el: etree._Element, rf: ResponseFor) -> None:
        """Fill a ``ResponseFor`` element."""
        self.opt(el, "OrganId", rf.organ_id)
        self.opt(el, "Code", rf.code)
        self.opt(el, "PromulgationDate", rf.promulgation_date)
        self.opt(el, "DocumentId", rf.document_id)

    def staff_info(self, parent: etree._Element, staff: StaffInfo | None) -> None:
        """Append ``StaffInfo`` to ``parent`` when there is one."""
        if staff is None:
            return
        el = self.sub(parent, "StaffInfo")
        self.opt(el, "Department", staff.department)
        self.opt(el, "Staff", staff.staff)
        self.opt(el, "Email", staff.email)
        self.opt(el, "Mobile", staff.mobile)

    def other_info(self, el: etree._Element, o: OtherInfo) -> None:
        """Fill an ``OtherInfo`` element."""
        self.opt(el, "Priority", o.priority)
        self.opt(el, "SphereOfPromulgation", o.sphere_of_promulgation)
        self.opt(el, "TyperNotation", o.typer_notation)
        self.opt(el, "PromulgationAmount", o.promulgation_amount)
        self.opt(el, "PageAmount", o.page_amount)
        if self.direction:
            self.opt(el, "Direction", o.direction)
        if o.appendixes is not None:
            appendixes = self.sub(el, "Appendixes")
            for appendix in o.appendixes:
                self.sub(appendixes, "Appendix", appendix)

    def message_header(self, el: etree._Element, h: MessageHeader) -> None:
        """Fill a document's ``MessageHeader`` element in this form's order."""
        self.organization(self.sub(el, "From"), h.from_, self.sender_in_charge)
        for to in h.to:
            self.organization(self.sub(el, "To"), to, self.recipient_in_charge)
        self.opt(el, "DocumentId", h.document_id)
        if h.code is not None:
            code = self.sub(el, "Code")
            self.sub(code, "CodeNumber", h.code.code_number)
            self.sub(code, "CodeNotation", h.code.code_notation)
        if h.promulgation_info is not None:
            info = self.sub(el, "PromulgationInfo")
            self.opt(info, "Place", h.promulgation_info.place)
            self.opt(info, "PromulgationDate", h.promulgation_info.promulgation_date)
        if h.document_type is not None:
            kind = self.sub(el, "DocumentType")
            self.opt(kind, "Type", h.document_type.type)
            if self.type_detail:
                self.opt(kind, "TypeDetail", h.document_type.type_detail)
            self.opt(kind, "TypeName", h.document_type.type_name)
        self.opt(el, "Subject", h.subject)
        self.opt(el, "Content", h.content)
        if h.signer_info is not None:
            signer = self.sub(el, "SignerInfo")
            self.opt(signer, "Competence", h.signer_info.competence)
            self.opt(signer, "Position", h.signer_info.position)
            self.opt(signer, "FullName", h.signer_info.full_name)
        self.opt(el, "DueDate", h.due_date)
        if not self.to_places_last:
            self._to_places(el, h.to_places)
        if h.other_info is not None:
            self.other_info(self.sub(el, "OtherInfo"), h.other_info)
        for rf in h.response_for:
            self.response_for(self.sub(el, "ResponseFor"), rf)
        self.opt(el, "SteeringType", h.steering_type)
        if self.to_places_last:
            self._to_places(el, h.to_places)

    def _to_places(self, el: etree._Element, places: tuple[str, ...] | None) -> None:
        if places is not None:
            container = self.sub(el, "ToPlaces")
            for place in places:
                self.sub(container, "Place", place)

    def status(self, el: etree._Element, s: StatusMessage) -> None:
        """Fill a status container (``Status`` or ``MessageHeader``) element.

        Raises ``ValueError`` for a status code outside SPEC §4 when codes are padded.
        """
        self.organization(self.sub(el, "From"), s.from_, self.sender_in_charge)
        self.response_for(self.sub(el, "ResponseFor"), s.response_for)
        self.staff_info(el, s.staff_info)
        code = StatusCode(s.status_code).wire if self.padded_status else str(int(s.status_code))
        self.sub(el, "StatusCode", code)
        self.opt(el, "Description", s.description)
        self.opt(el, "Timestamp", s.timestamp)


EDXML = ElementWriter(
    namespace=NAMESPACE,
    date_format="%Y/%m/%d",
    datetime_format="%Y/%m/%d %H:%M:%S",
    sender_in_charge="OrganizationInCharge",
    recipient_in_charge="OrganizationInCharge",
    type_detail=True,
    direction=True,
    to_places_last=True,
    padded_status=True,
)
"""QCVN 102:2016 edXML as ``edxml.build`` writes it (the national axis sample's order)."""
