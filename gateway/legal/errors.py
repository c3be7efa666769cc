"""Refusals of the legal and safety checks (malware, PDF signatures, signer, revocation, takedown).

Kept apart from ``gateway.errors`` (same base, same shape: stable code, HTTP status,
Vietnamese and English messages) so that this feature's codes live with its code.
"""

from __future__ import annotations

from gateway.errors import GatewayError, Unavailable


class AttachmentMalware(GatewayError):
    """Raised when clamd finds a signature in an attachment or a file inside one."""

    code = "ATTACHMENT_MALWARE"
    http_status = 422
    message_vi = "Tệp đính kèm chứa mã độc"
    message_en = "An attachment contains malware"


class ScannerUnavailable(Unavailable):
    """Raised when clamd cannot be reached or times out and ``[scan] on_error = refuse``."""

    code = "SCANNER_UNAVAILABLE"
    message_vi = (
        "Không kiểm tra được mã độc (dịch vụ quét virus không phản hồi), vui lòng gửi lại sau"
    )
    message_en = "The malware scanner is unavailable; try again later"


class PdfSignatureRequired(GatewayError):
    """Raised under ``pdf_signatures = require`` when no PDF attachment carries a valid
    signature."""

    code = "PDF_SIGNATURE_REQUIRED"
    http_status = 422
    message_vi = "Văn bản phải có tệp PDF được ký số hợp lệ"
    message_en = "The document must carry a PDF with a valid digital signature"


class SignerNotSender(GatewayError):
    """Raised under ``signer_binding = require`` when the packet's signing certificate does
    not belong to the sending agency."""

    code = "SIGNER_NOT_SENDER"
    http_status = 422
    message_vi = "Chứng thư ký gói tin không thuộc đơn vị gửi"
    message_en = "The packet's signing certificate does not belong to the sending agency"


class CertificateRevoked(GatewayError):
    """Raised when the packet signer's certificate is revoked (OCSP or CRL)."""

    code = "CERT_REVOKED"
    http_status = 422
    message_vi = "Chứng thư số của người ký đã bị thu hồi"
    message_en = "The signer's certificate has been revoked"


class RevocationUnknown(GatewayError):
    """Raised under ``[trust] revocation = hard`` when no OCSP/CRL answer could be had."""

    code = "REVOCATION_UNKNOWN"
    http_status = 422
    message_vi = "Không xác định được tình trạng thu hồi của chứng thư số người ký"
    message_en = "The revocation status of the signer's certificate cannot be determined"


class MessageGone(GatewayError):
    """Raised when a message was taken down, or recalled (status 15) for this recipient."""

    code = "MESSAGE_GONE"
    http_status = 410
    message_vi = "Văn bản đã bị gỡ bỏ hoặc đã được thu hồi, không còn tải về được"
    message_en = "The document was taken down or recalled and can no longer be fetched"
