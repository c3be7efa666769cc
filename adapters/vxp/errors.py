"""The one table mapping refusals to VXP ``ErrorCode`` numbers (SPEC §6, interop/VXP-SDK.md).

VXP answers every call with HTTP 200 and ``{"status": "OK"|"FAIL", "ErrorCode", "ErrorDesc"}``;
the SDK reads the body, not the HTTP status, with ``getAsString()``: each of the three is
always present as a string, and ``sendEdoc`` answers always carry ``DocId`` (``""`` on a
refusal). Numbers: 0 OK, 10 bad file, 15 wrong credentials, 18 unknown recipient, 19 sender
not registered, 20 system error, 21 file processing error, 22 invalid edXML, 23 recipient
locked, 24 (ours) document taken down or recalled. The table is keyed by error class and
looked up along the class's MRO, so a new subclass inherits its parent's number. A duplicate
``sendEdoc`` is not a refusal at all: the core answers the original receipt, and the door
answers OK with the original ``DocId``, as REST answers 200 with it and the hub its number.
"""

from __future__ import annotations

from typing import Any

from edxml import errors as edxml
from gateway import errors as core
from gateway.legal import errors as legal

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

VXP_ERROR_CODES: dict[type[BaseException], str] = {
    core.AuthError: CREDENTIALS,
    core.Forbidden: CREDENTIALS,
    core.SenderNotAllowed: SENDER_NOT_REGISTERED,
    core.RecipientNotAllowed: RECIPIENT_LOCKED,
    core.NotFound: BAD_FILE,
    core.PayloadTooLarge: BAD_FILE,
    core.RequestTimeout: BAD_FILE,
    core.CodeUnknown: UNKNOWN_RECIPIENT,
    core.AgencyInactive: RECIPIENT_LOCKED,
    core.AgencyDissolved: RECIPIENT_LOCKED,
    core.StatusTransitionInvalid: INVALID_EDXML,
    core.DocumentUnknown: INVALID_EDXML,
    core.RequestInvalid: BAD_FILE,
    core.FileHashMismatch: BAD_FILE,
    core.DirectoryChangeRefused: BAD_FILE,
    # A duplicate is answered OK with the original DocId by the core; this is only a commit
    # still racing after the core's attempts: "try again", and the resend is answered OK.
    core.DuplicateMessage: SYSTEM_ERROR,
    core.Unavailable: SYSTEM_ERROR,
    legal.AttachmentMalware: FILE_PROCESSING,
    legal.ScannerUnavailable: SYSTEM_ERROR,
    legal.PdfSignatureRequired: INVALID_EDXML,
    legal.SignerNotSender: SENDER_NOT_REGISTERED,
    legal.CertificateRevoked: INVALID_EDXML,
    legal.RevocationUnknown: INVALID_EDXML,
    legal.MessageGone: GONE,
    core.GatewayError: SYSTEM_ERROR,
    edxml.LimitExceeded: BAD_FILE,
    edxml.AttachmentInvalid: FILE_PROCESSING,
    edxml.AttachmentBomb: FILE_PROCESSING,
    edxml.AttachmentPath: FILE_PROCESSING,
    edxml.AttachmentType: FILE_PROCESSING,
    edxml.ManifestMismatch: FILE_PROCESSING,
    edxml.AttachmentTypeMismatch: FILE_PROCESSING,
    edxml.AttachmentNameUnsafe: FILE_PROCESSING,
    edxml.AttachmentSymlink: FILE_PROCESSING,
    edxml.AttachmentExecutable: FILE_PROCESSING,
    edxml.AttachmentRarRefused: FILE_PROCESSING,
    edxml.EdxmlError: INVALID_EDXML,
    BaseException: SYSTEM_ERROR,
}
"""Error class → VXP ErrorCode; :func:`vxp_error_code` walks the MRO of the error's class."""


def vxp_error_code(error: BaseException) -> str:
    """Return the VXP ``ErrorCode`` that answers ``error`` (first class of its MRO in the table)."""
    for cls in type(error).__mro__:
        if cls in VXP_ERROR_CODES:
            return VXP_ERROR_CODES[cls]
    return SYSTEM_ERROR


def ok_body(**data: Any) -> dict[str, Any]:
    """Return a successful VXP answer with extra top-level fields (``DocId``, ``data``, …)."""
    return {"status": "OK", "ErrorCode": OK, "ErrorDesc": "Success", **data}


def fail_body(error: BaseException, **data: Any) -> dict[str, Any]:
    """Return the VXP failure answer for ``error``: its ErrorCode and a bilingual description.

    Errors that are not refusals of ours (bugs, unexpected exceptions) never leak their text.
    """
    if isinstance(error, core.GatewayError | edxml.EdxmlError):
        return {
            "status": "FAIL",
            "ErrorCode": vxp_error_code(error),
            "ErrorDesc": f"{error.text_vi} / {error.text_en}",
            "code": error.code,
            **data,
        }
    return {
        "status": "FAIL",
        "ErrorCode": SYSTEM_ERROR,
        "ErrorDesc": "Lỗi hệ thống / Internal error",
        "code": "INTERNAL",
        **data,
    }


def readable(value: Any) -> Any:
    """Return ``value`` with every JSON ``null`` replaced by ``""`` (the SDK's ``getAsString``
    throws on null, and one null empties a whole list)."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return {str(k): readable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [readable(v) for v in value]
    return value
