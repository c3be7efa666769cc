"""Documents with state-secret content (QĐ 28/2018/QĐ-TTg art. 3: out of scope of the axis).

edXML has no field for a confidentiality level: neither the schema (QCVN 102:2016) nor any
sample on the wire carries one. The only place a producer can mark a document's degree of
secrecy is ``OtherInfo/SphereOfPromulgation`` (phạm vi lưu hành), where the samples hold
"Liên thông văn bản quốc gia" or "Lưu hành nội bộ". The gateway treats a document as secret
when that field names one of the three degrees of the Law on Protection of State Secrets
(2018, art. 8): "Mật", "Tối mật", "Tuyệt mật", alone or as a marking ("Độ mật: Mật",
"MẬT"), or says "bí mật nhà nước". "Lưu hành nội bộ" (internal circulation), "Hạn chế" and
anything else are not secret. Comparison is on NFC, case-folded text. Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import SecretDocument
from .model import Envelope, StatusMessage

SPHERE_PATH = "/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/OtherInfo/SphereOfPromulgation"
SECRET_DEGREES = ("mật", "tối mật", "tuyệt mật")
_MARKING = re.compile(r"^(?:độ\s+mật\s*[:\-–]?\s*)?(mật|tối\s+mật|tuyệt\s+mật)[\s.!]*$")
_ANYWHERE = re.compile(r"\b(tối\s+mật|tuyệt\s+mật|bí\s+mật\s+nhà\s+nước)\b")


def secrecy_degree(text: str | None) -> str | None:
    """The secrecy degree a SphereOfPromulgation value names, or ``None``."""
    if not text:
        return None
    value = unicodedata.normalize("NFC", text).casefold().strip()
    found = _MARKING.match(value) or _ANYWHERE.search(value)
    return re.sub(r"\s+", " ", found.group(1)) if found else None


def check_secrecy(packet: Envelope | StatusMessage) -> None:
    """Refuse a document marked secret (see the module docstring) with ``SECRET_DOCUMENT``."""
    if not isinstance(packet, Envelope) or packet.header.other_info is None:
        return
    degree = secrecy_degree(packet.header.other_info.sphere_of_promulgation)
    if degree is not None:
        raise SecretDocument(f"SphereOfPromulgation says {degree!r}", path=SPHERE_PATH)
