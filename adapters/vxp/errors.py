"""The one table mapping core and edXML error codes to VXP ``ErrorCode`` numbers (SPEC §6).

VXP answers every call with HTTP 200 and ``{"status": "OK"|"FAIL", "ErrorCode", "ErrorDesc"}``;
the SDK reads the body, not the HTTP status. Numbers: 0 OK, 10 bad file, 15 wrong credentials,
18 unknown recipient, 19 sender not registered, 20 system error, 21 file processing error,
22 invalid edXML, 23 recipient locked, 24 (ours) document taken down or recalled.
"""

from __future__ import annotations

from typing import Any

from edxml.errors import EdxmlError
from gateway.errors import GatewayError

OK = "0"
BAD_FILE = "10"
CREDENTIALS = "15"
UNKNOWN_RECIPIENT = "18"
SENDER_NOT_REGISTERED = "19"
SYSTEM_ERROR = "20"
FILE_PROCESSING = "21"
INVALID_EDXML = "22"
RECIPIENT_LOCKED = "23"
GONE = "24"  # choice: taken down, or recalled for this recipient (no SDK number for it)

VXP_ERROR_CODES: dict[str, str] = {
    "AUTH_FAILED": CREDENTIALS,
    "AUTH_TIMESTAMP": CREDENTIALS,
    "AUTH_REPLAY": CREDENTIALS,
    "FORBIDDEN": CREDENTIALS,
    "SENDER_NOT_ALLOWED": SENDER_NOT_REGISTERED,
    "RECIPIENT_NOT_ALLOWED": RECIPIENT_LOCKED,
    "NOT_FOUND": BAD_FILE,
    "PAYLOAD_TOO_LARGE": BAD_FILE,
    "CODE_UNKNOWN": UNKNOWN_RECIPIENT,
    "AGENCY_INACTIVE": RECIPIENT_LOCKED,
    "AGENCY_DISSOLVED": RECIPIENT_LOCKED,
    "STATUS_TRANSITION": INVALID_EDXML,
    "DOCUMENT_UNKNOWN": INVALID_EDXML,
    "REQUEST_INVALID": BAD_FILE,
    "FILE_HASH_MISMATCH": BAD_FILE,
    "DUPLICATE_MESSAGE": SYSTEM_ERROR,
    "UNAVAILABLE": SYSTEM_ERROR,
    "STORE_ERROR": SYSTEM_ERROR,
    "BROKER_ERROR": SYSTEM_ERROR,
    "EDXML_LIMIT": BAD_FILE,
    "EDXML_NOT_WELL_FORMED": INVALID_EDXML,
    "ATTACHMENT_INVALID": FILE_PROCESSING,
    "ATTACHMENT_BOMB": FILE_PROCESSING,
    "ATTACHMENT_PATH": FILE_PROCESSING,
    "ATTACHMENT_TYPE": FILE_PROCESSING,
    "MANIFEST_MISMATCH": FILE_PROCESSING,
    "ATTACHMENT_MALWARE": FILE_PROCESSING,
    "ATTACHMENT_TYPE_MISMATCH": FILE_PROCESSING,
    "ATTACHMENT_NAME_UNSAFE": FILE_PROCESSING,
    "ATTACHMENT_SYMLINK": FILE_PROCESSING,
    "ATTACHMENT_EXECUTABLE": FILE_PROCESSING,
    "ATTACHMENT_RAR_REFUSED": FILE_PROCESSING,
    "SCANNER_UNAVAILABLE": SYSTEM_ERROR,
    "PDF_SIGNATURE_REQUIRED": INVALID_EDXML,
    "SIGNER_NOT_SENDER": SENDER_NOT_REGISTERED,
    "CERT_REVOKED": INVALID_EDXML,
    "REVOCATION_UNKNOWN": INVALID_EDXML,
    "MESSAGE_GONE": GONE,
}
"""Core/edXML error code → VXP ErrorCode. Any other edXML refusal is 22, anything else 20."""


def vxp_error_code(error: BaseException) -> str:
    """Return the VXP ``ErrorCode`` that answers ``error``."""
    code = getattr(error, "code", None)
    if isinstance(error, GatewayError | EdxmlError) and code in VXP_ERROR_CODES:
        return VXP_ERROR_CODES[code]
    if isinstance(error, EdxmlError):
        return INVALID_EDXML
    return SYSTEM_ERROR


def ok_body(**data: Any) -> dict[str, Any]:
    """Return a successful VXP answer with extra top-level fields (``DocId``, ``data``, …)."""
    return {"status": "OK", "ErrorCode": OK, "ErrorDesc": "Success", **data}


def fail_body(error: BaseException, **data: Any) -> dict[str, Any]:
    """Return the VXP failure answer for ``error``: its ErrorCode and a bilingual description.

    Errors that are not refusals of ours (bugs, unexpected exceptions) never leak their text.
    """
    if isinstance(error, GatewayError | EdxmlError):
        desc = f"{error.text_vi} / {error.text_en}"
        return {
            "status": "FAIL",
            "ErrorCode": vxp_error_code(error),
            "ErrorDesc": desc,
            "code": error.code,
            **data,
        }
    return {
        "status": "FAIL",
        "ErrorCode": SYSTEM_ERROR,
        "ErrorDesc": "Lỗi hệ thống / Internal error",
        **data,
    }
