"""Errors raised by the edXML library.

Every refusal is an :class:`EdxmlError` with a stable machine-readable ``code``, a Vietnamese
and an English message, and the ``path`` in the document where it applies. Adapters map the
codes to their own protocol (HTTP status, VXP ErrorCode, SOAP fault); this module knows
nothing of HTTP.

    EdxmlError
    ├── NotWellFormed            EDXML_NOT_WELL_FORMED     not well-formed XML or bad encoding
    ├── DtdForbidden             EDXML_DTD_FORBIDDEN       a DOCTYPE, entity or external reference
    ├── LimitExceeded            EDXML_LIMIT               size, depth or text-node limits
    ├── WrongNamespace           EDXML_NAMESPACE           root or header not in the edXML namespace
    ├── SchemaInvalid            EDXML_SCHEMA              XSD validation failed
    ├── FieldInvalid             EDXML_FIELD               a field value fails a semantic rule
    ├── NoRecipient              EDXML_NO_RECIPIENT        a document names no ``To``
    ├── DuplicateRecipient       EDXML_DUPLICATE_RECIPIENT the same ``To`` twice
    ├── FutureDate               EDXML_FUTURE_DATE         promulgation date lies in the future
    ├── PriorityInvalid          EDXML_PRIORITY            Priority outside 0–4
    ├── StatusCodeInvalid        EDXML_STATUS_CODE         unknown status code
    ├── SecretDocument           SECRET_DOCUMENT           document flagged as state secret
    ├── CodeInvalid              CODE_INVALID              an identifier code breaks QĐ 20/2020
    ├── SignatureAbsent          SIGNATURE_ABSENT          policy demands a signature, none found
    ├── SignatureInvalid         SIGNATURE_INVALID         digest or signature value does not match
    ├── SignatureWrapping        SIGNATURE_WRAPPING        signed element is not the routed one
    ├── SignatureWeak            SIGNATURE_WEAK            SHA-1 or a weak key under strict policy
    ├── CertificateUntrusted     CERT_UNTRUSTED            chain does not reach a trust anchor
    ├── CertificateExpired       CERT_EXPIRED              outside the certificate validity period
    ├── AttachmentInvalid        ATTACHMENT_INVALID        bad base64, broken zip
    ├── AttachmentBomb           ATTACHMENT_BOMB           decompressed size, ratio or entry count
    ├── AttachmentPath           ATTACHMENT_PATH           zip entry with ``..`` or absolute path
    ├── AttachmentType           ATTACHMENT_TYPE           content type not on the allow-list
    ├── ManifestMismatch         MANIFEST_MISMATCH         manifest and attachments disagree
    ├── AttachmentTypeMismatch   ATTACHMENT_TYPE_MISMATCH  real content differs from name/type
    ├── AttachmentNameUnsafe     ATTACHMENT_NAME_UNSAFE    AttachmentName with a path (``../x``)
    ├── AttachmentSymlink        ATTACHMENT_SYMLINK        zip entry that is a symbolic link
    ├── AttachmentExecutable     ATTACHMENT_EXECUTABLE     executable inside an Office document
    └── AttachmentRarRefused     ATTACHMENT_RAR_REFUSED    RAR archive (cannot be inspected)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding about a packet: an error that refused it or a warning beside the result."""

    code: str
    message_vi: str
    message_en: str
    path: str = ""

    def as_dict(self) -> dict[str, str]:
        """Return the finding as the JSON shape used by the CLI and the APIs."""
        return {
            "code": self.code,
            "path": self.path,
            "message_vi": self.message_vi,
            "message_en": self.message_en,
        }


class BilingualError(Exception):
    """A refusal with a stable code, Vietnamese and English messages, a detail and a path.

    Shared shape of ``EdxmlError`` and the gateway's ``GatewayError`` (which are distinct
    trees: catching one never catches the other).
    """

    code: ClassVar[str] = "ERROR"
    message_vi: ClassVar[str] = "Lỗi"
    message_en: ClassVar[str] = "Error"

    def __init__(self, detail: str = "", *, path: str = "") -> None:
        self.detail = detail
        self.path = path
        super().__init__(self.text_en)

    @property
    def text_vi(self) -> str:
        """Vietnamese message with the detail appended."""
        return f"{self.message_vi}: {self.detail}" if self.detail else self.message_vi

    @property
    def text_en(self) -> str:
        """English message with the detail appended."""
        return f"{self.message_en}: {self.detail}" if self.detail else self.message_en

    def as_issue(self) -> Issue:
        """Return this error as an :class:`Issue`."""
        return Issue(self.code, self.text_vi, self.text_en, self.path)


class EdxmlError(BilingualError):
    """Base of every refusal raised by ``edxml``."""

    code: ClassVar[str] = "EDXML_ERROR"
    message_vi: ClassVar[str] = "Gói tin edXML không hợp lệ"
    message_en: ClassVar[str] = "Invalid edXML packet"


class NotWellFormed(EdxmlError):
    """Raised when the bytes are not well-formed XML or not valid UTF-8."""

    code = "EDXML_NOT_WELL_FORMED"
    message_vi = "Tài liệu XML không đúng cú pháp"
    message_en = "XML is not well-formed"


class DtdForbidden(EdxmlError):
    """Raised when the packet carries a DOCTYPE, entity declaration or external reference."""

    code = "EDXML_DTD_FORBIDDEN"
    message_vi = "Không chấp nhận DTD hoặc khai báo thực thể trong gói tin"
    message_en = "DTDs and entity declarations are not allowed"


class LimitExceeded(EdxmlError):
    """Raised when the packet exceeds a size, nesting depth or text-node limit."""

    code = "EDXML_LIMIT"
    message_vi = "Gói tin vượt quá giới hạn cho phép"
    message_en = "Packet exceeds a configured limit"


class WrongNamespace(EdxmlError):
    """Raised when the root or a required element is not in the edXML namespace."""

    code = "EDXML_NAMESPACE"
    message_vi = "Phần tử không thuộc không gian tên edXML"
    message_en = "Element is not in the edXML namespace"


class SchemaInvalid(EdxmlError):
    """Raised when the packet fails XSD validation."""

    code = "EDXML_SCHEMA"
    message_vi = "Gói tin không đúng lược đồ edXML"
    message_en = "Packet does not conform to the edXML schema"


class FieldInvalid(EdxmlError):
    """Raised when a field value breaks a semantic rule (length, format, date)."""

    code = "EDXML_FIELD"
    message_vi = "Giá trị trường dữ liệu không hợp lệ"
    message_en = "Invalid field value"


class NoRecipient(EdxmlError):
    """Raised when a document names no recipient (``To``)."""

    code = "EDXML_NO_RECIPIENT"
    message_vi = "Văn bản không có đơn vị nhận"
    message_en = "Document has no recipient"


class DuplicateRecipient(EdxmlError):
    """Raised when the same recipient code appears twice in ``To``."""

    code = "EDXML_DUPLICATE_RECIPIENT"
    message_vi = "Đơn vị nhận bị lặp"
    message_en = "Duplicate recipient"


class FutureDate(EdxmlError):
    """Raised when the promulgation date lies in the future."""

    code = "EDXML_FUTURE_DATE"
    message_vi = "Ngày ban hành ở tương lai"
    message_en = "Promulgation date is in the future"


class PriorityInvalid(EdxmlError):
    """Raised when Priority is not one of 0–4."""

    code = "EDXML_PRIORITY"
    message_vi = "Độ khẩn không hợp lệ (0–4)"
    message_en = "Priority must be 0–4"


class StatusCodeInvalid(EdxmlError):
    """Raised when a status message carries an unknown status code."""

    code = "EDXML_STATUS_CODE"
    message_vi = "Mã trạng thái không hợp lệ"
    message_en = "Unknown status code"


class SecretDocument(EdxmlError):
    """Raised when a document is flagged as containing state secrets (QĐ 28/2018)."""

    code = "SECRET_DOCUMENT"
    message_vi = "Không được gửi văn bản có nội dung bí mật nhà nước qua hệ thống"
    message_en = "Documents with state-secret content may not be exchanged"


class CodeInvalid(EdxmlError):
    """Raised when an identifier code does not follow QĐ 20/2020."""

    code = "CODE_INVALID"
    message_vi = "Mã định danh không hợp lệ"
    message_en = "Invalid electronic identifier code"


class SignatureAbsent(EdxmlError):
    """Raised when the policy requires a signature and the packet has none."""

    code = "SIGNATURE_ABSENT"
    message_vi = "Gói tin không có chữ ký số"
    message_en = "Packet is not signed"


class SignatureInvalid(EdxmlError):
    """Raised when the digest or signature value does not verify."""

    code = "SIGNATURE_INVALID"
    message_vi = "Chữ ký số không hợp lệ"
    message_en = "Signature does not verify"


class SignatureWrapping(EdxmlError):
    """Raised when the signed element is not the element that would be routed (wrapping)."""

    code = "SIGNATURE_WRAPPING"
    message_vi = "Phát hiện tấn công bọc chữ ký (signature wrapping)"
    message_en = "Signature wrapping detected: the signed content is not what would be used"


class SignatureWeak(EdxmlError):
    """Raised when the signature uses SHA-1 or a weak key where the policy forbids it."""

    code = "SIGNATURE_WEAK"
    message_vi = "Thuật toán hoặc khóa ký không đủ an toàn"
    message_en = "Weak signature algorithm or key"


class CertificateUntrusted(EdxmlError):
    """Raised when the signer's certificate chain does not reach a trust anchor."""

    code = "CERT_UNTRUSTED"
    message_vi = "Chứng thư số không được tin cậy"
    message_en = "Certificate is not trusted"


class CertificateExpired(EdxmlError):
    """Raised when a certificate in the chain is outside its validity period."""

    code = "CERT_EXPIRED"
    message_vi = "Chứng thư số đã hết hạn hoặc chưa có hiệu lực"
    message_en = "Certificate is expired or not yet valid"


class AttachmentInvalid(EdxmlError):
    """Raised when an attachment is not valid base64 or a broken archive."""

    code = "ATTACHMENT_INVALID"
    message_vi = "Tệp đính kèm không hợp lệ"
    message_en = "Invalid attachment"


class AttachmentBomb(EdxmlError):
    """Raised when an archive exceeds the decompressed size, ratio or entry limits."""

    code = "ATTACHMENT_BOMB"
    message_vi = "Tệp nén vượt giới hạn giải nén (nghi ngờ zip bomb)"
    message_en = "Archive exceeds decompression limits (zip bomb suspected)"


class AttachmentPath(EdxmlError):
    """Raised when an archive entry name is absolute or climbs out with ``..``."""

    code = "ATTACHMENT_PATH"
    message_vi = "Tên tệp trong tệp nén không an toàn"
    message_en = "Unsafe entry name in archive"


class AttachmentType(EdxmlError):
    """Raised when an attachment's content type or extension is not allowed."""

    code = "ATTACHMENT_TYPE"
    message_vi = "Loại tệp đính kèm không được phép"
    message_en = "Attachment type is not allowed"


class ManifestMismatch(EdxmlError):
    """Raised when manifest references and attachments do not match one to one."""

    code = "MANIFEST_MISMATCH"
    message_vi = "Danh mục tệp đính kèm không khớp với tệp đính kèm"
    message_en = "Manifest does not match the attachments"


class AttachmentTypeMismatch(EdxmlError):
    """Raised when an attachment's real content (magic bytes) is not what its name and
    declared type say: an executable, script or archive disguised as a document."""

    code = "ATTACHMENT_TYPE_MISMATCH"
    message_vi = "Nội dung thực của tệp đính kèm không khớp với tên và kiểu khai báo"
    message_en = "The attachment's real content does not match its name and declared type"


class AttachmentNameUnsafe(EdxmlError):
    """Raised when an ``AttachmentName`` holds a path (``../../x.pdf``, ``/etc/x``, ``C:``)."""

    code = "ATTACHMENT_NAME_UNSAFE"
    message_vi = "Tên tệp đính kèm chứa đường dẫn không an toàn"
    message_en = "The attachment name holds an unsafe path"


class AttachmentSymlink(EdxmlError):
    """Raised when a zip attachment holds an entry that is a symbolic link."""

    code = "ATTACHMENT_SYMLINK"
    message_vi = "Tệp nén chứa liên kết tượng trưng (symbolic link)"
    message_en = "The archive holds a symbolic link entry"


class AttachmentExecutable(EdxmlError):
    """Raised when an Office/OpenDocument file (a zip inside) carries an executable."""

    code = "ATTACHMENT_EXECUTABLE"
    message_vi = "Tài liệu văn phòng chứa tệp thực thi"
    message_en = "The office document carries an executable file"


class AttachmentRarRefused(EdxmlError):
    """Raised for RAR archives: the gateway cannot inspect them, so it refuses them."""

    code = "ATTACHMENT_RAR_REFUSED"
    message_vi = "Không tiếp nhận tệp nén RAR vì không kiểm tra được nội dung; hãy gửi tệp ZIP"
    message_en = "RAR archives are refused because their content cannot be inspected; send a zip"


def all_error_classes() -> list[type[EdxmlError]]:
    """Return every concrete error class defined by the library."""
    found: list[type[EdxmlError]] = []
    stack: list[type[EdxmlError]] = [EdxmlError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


# Warning codes: odd but seen on the wire, reported beside the result, never a refusal.
WARN_DOCUMENT_ID_FORMAT = "WARN_DOCUMENT_ID_FORMAT"
WARN_DOCUMENT_ID_DATE = "WARN_DOCUMENT_ID_DATE"
WARN_DOCUMENT_ID_SENDER = "WARN_DOCUMENT_ID_SENDER"
WARN_SIGNATURE_UNVERIFIED = "WARN_SIGNATURE_UNVERIFIED"
WARN_MACRO_ENABLED = "WARN_MACRO_ENABLED"
