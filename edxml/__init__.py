"""edXML (QCVN 102:2016/BTTTT) library: parse, check, build, sign and verify packets.

Pure functions: no I/O, no imports from the gateway. The public names are listed in
``__all__``; everything else is an implementation detail.
"""

from __future__ import annotations

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

__all__ = [
    "NAMESPACE",
    "Attachment",
    "Business",
    "BusinessDocType",
    "EdxmlError",
    "Envelope",
    "Issue",
    "ManifestReference",
    "MessageHeader",
    "Organization",
    "Packet",
    "Priority",
    "ResponseFor",
    "StatusCode",
    "StatusMessage",
]
