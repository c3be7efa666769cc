"""edXML (QCVN 102:2016/BTTTT) library: parse, check, build, sign and verify packets.

Pure functions: no I/O, no imports from the gateway. The public names are listed in
``__all__``; everything else is an implementation detail. Note that ``edxml.parse`` and
``edxml.build`` are the functions; their modules stay importable as ``edxml.parse`` through
``from edxml.parse import ...``.
"""

from __future__ import annotations

from .attachments import (
    AttachmentLimits,
    DecodedAttachment,
    check_manifest,
    decode_attachments,
)
from .build import build, new_document, recall, replace, status_message, update
from .codes import AgencyCode, is_valid_code, parse_code
from .errors import EdxmlError, Issue
from .model import (
    NAMESPACE,
    Attachment,
    Business,
    BusinessDocType,
    Envelope,
    ManifestReference,
    MessageHeader,
    Organization,
    Packet,
    Priority,
    ResponseFor,
    StatusCode,
    StatusMessage,
)
from .parse import packet_from_element, parse
from .pipeline import CheckResult, check_packet
from .rules import check
from .safexml import DEFAULT_LIMITS, Limits, safe_fromstring
from .schema import validate_schema
from .signature import Policy, Verification, sign, verify

__all__ = [
    "DEFAULT_LIMITS",
    "NAMESPACE",
    "AgencyCode",
    "Attachment",
    "AttachmentLimits",
    "Business",
    "BusinessDocType",
    "CheckResult",
    "DecodedAttachment",
    "EdxmlError",
    "Envelope",
    "Issue",
    "Limits",
    "ManifestReference",
    "MessageHeader",
    "Organization",
    "Packet",
    "Policy",
    "Priority",
    "ResponseFor",
    "StatusCode",
    "StatusMessage",
    "Verification",
    "build",
    "check",
    "check_manifest",
    "check_packet",
    "decode_attachments",
    "is_valid_code",
    "new_document",
    "packet_from_element",
    "parse",
    "parse_code",
    "recall",
    "replace",
    "safe_fromstring",
    "sign",
    "status_message",
    "update",
    "validate_schema",
    "verify",
]
