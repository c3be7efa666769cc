"""Errors raised by the gateway core.

Each error has a stable ``code``, an HTTP status (the JSON doors' table,
``adapters.edge.HTTP_STATUS``, is keyed by class and checked to agree with it; other doors
map the class to their own forms in one table each), and Vietnamese and English
messages. ``edxml.EdxmlError`` refusals are mapped by :func:`http_status_for`.

    GatewayError
    ├── AuthError                  AUTH_*               401: credentials, timestamp, replay
    ├── Forbidden                  FORBIDDEN / SENDER_NOT_ALLOWED / ...  403
    ├── NotFound                   NOT_FOUND            404
    ├── PayloadTooLarge            PAYLOAD_TOO_LARGE    413
    ├── RequestInvalid             REQUEST_INVALID      400: a bad parameter; ROUTING_LOOP
    ├── RequestTimeout             REQUEST_TIMEOUT      408: the body did not arrive in time
    ├── CodeUnknown                CODE_UNKNOWN         422: identifier code not in the directory
    ├── AgencyInactive             AGENCY_INACTIVE      422: suspended or locked agency
    ├── AgencyDissolved            AGENCY_DISSOLVED     422: dissolved, successor named if any
    ├── StatusTransitionInvalid    STATUS_TRANSITION    409: status does not follow the state
    ├── DocumentUnknown            DOCUMENT_UNKNOWN     404/422: status for an unknown document
    ├── Unavailable                UNAVAILABLE          503: store or broker down, maintenance
    ├── StoreError                 STORE_ERROR          503
    └── BrokerError                BROKER_ERROR         503
"""

from __future__ import annotations

from typing import ClassVar

from edxml.errors import BilingualError, EdxmlError


class GatewayError(BilingualError):
    """Base of every refusal raised by the gateway core."""

    code: ClassVar[str] = "GATEWAY_ERROR"
    http_status: ClassVar[int] = 500
    message_vi: ClassVar[str] = "Lỗi hệ thống"
    message_en: ClassVar[str] = "Internal error"

    def __init__(self, detail: str = "", *, path: str = "", code: str | None = None) -> None:
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance code (e.g. a VXP number)
        super().__init__(detail, path=path)


class AuthError(GatewayError):
    """Raised when the caller's credentials, timestamp or request signature are refused."""

    code = "AUTH_FAILED"
    http_status = 401
    message_vi = "Xác thực không thành công"
    message_en = "Authentication failed"

    # Why credentials failed (unknown system, wrong secret, bad MAC) is for the audit record
    # and the log only: an answer that differed would tell a caller which system ids exist.
    @property
    def text_vi(self) -> str:
        """The Vietnamese answer, without the detail."""
        return self.message_vi

    @property
    def text_en(self) -> str:
        """The English answer, without the detail."""
        return self.message_en

    def __str__(self) -> str:  # the log line and the audit record keep the reason
        return f"{self.message_en}: {self.detail}" if self.detail else self.message_en


class AuthExpired(AuthError):
    """Raised when the request timestamp is outside the allowed clock skew."""

    code = "AUTH_TIMESTAMP"
    message_vi = "Dấu thời gian của yêu cầu không hợp lệ hoặc đã hết hạn"
    message_en = "Request timestamp is invalid or outside the allowed clock skew"


class AuthReplay(AuthError):
    """Raised when a signed request is seen a second time within the replay window."""

    code = "AUTH_REPLAY"
    message_vi = "Yêu cầu đã được gửi trước đó (phát lại)"
    message_en = "Replayed request"


class Forbidden(GatewayError):
    """Raised when an authenticated caller acts for an agency it is not bound to."""

    code = "FORBIDDEN"
    http_status = 403
    message_vi = "Hệ thống gọi không có quyền thực hiện thao tác này"
    message_en = "The calling system is not allowed to do this"


class SenderNotAllowed(Forbidden):
    """Raised when the caller may not speak for the packet's ``From`` agency."""

    code = "SENDER_NOT_ALLOWED"
    message_vi = "Hệ thống gọi không được phép gửi thay đơn vị gửi"
    message_en = "The calling system may not send for this sender"


class RecipientNotAllowed(Forbidden):
    """Raised when a recipient does not accept documents from this sender."""

    code = "RECIPIENT_NOT_ALLOWED"
    message_vi = "Đơn vị nhận không nhận văn bản từ đơn vị gửi này"
    message_en = "The recipient does not accept documents from this sender"


class NotFound(GatewayError):
    """Raised when a message, delivery or resource does not exist (or is not the caller's)."""

    code = "NOT_FOUND"
    http_status = 404
    message_vi = "Không tìm thấy"
    message_en = "Not found"


class PayloadTooLarge(GatewayError):
    """Raised when a request body exceeds the configured limit while being read."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413
    message_vi = "Dung lượng gói tin vượt quá giới hạn"
    message_en = "Request body too large"


class CodeUnknown(GatewayError):
    """Raised when an identifier code is not in the directory."""

    code = "CODE_UNKNOWN"
    http_status = 422
    message_vi = "Mã định danh không có trong danh bạ"
    message_en = "Identifier code is not in the directory"


class AgencyInactive(GatewayError):
    """Raised when an agency is suspended or locked."""

    code = "AGENCY_INACTIVE"
    http_status = 422
    message_vi = "Đơn vị đang bị tạm dừng hoặc khóa"
    message_en = "Agency is suspended or locked"


class AgencyDissolved(GatewayError):
    """Raised when an agency is dissolved; the detail names the successor if there is one."""

    code = "AGENCY_DISSOLVED"
    http_status = 422
    message_vi = "Đơn vị đã giải thể"
    message_en = "Agency has been dissolved"


class StatusTransitionInvalid(GatewayError):
    """Raised when a status does not follow from the document's current state."""

    code = "STATUS_TRANSITION"
    http_status = 409
    message_vi = "Trạng thái xử lý không hợp lệ với trạng thái hiện tại của văn bản"
    message_en = "Status does not follow from the document's current state"


class DocumentUnknown(GatewayError):
    """Raised when a status or recall names a document this node never carried."""

    code = "DOCUMENT_UNKNOWN"
    http_status = 422
    message_vi = "Không tìm thấy văn bản được phản hồi"
    message_en = "The referenced document is unknown"


class Unavailable(GatewayError):
    """Raised when the gateway cannot accept work now (maintenance, dependency down)."""

    code = "UNAVAILABLE"
    http_status = 503
    message_vi = "Hệ thống tạm thời không sẵn sàng"
    message_en = "Service temporarily unavailable"


class StoreError(Unavailable):
    """Raised when the database or blob store fails."""

    code = "STORE_ERROR"
    message_vi = "Lỗi lưu trữ"
    message_en = "Storage error"


class BrokerError(Unavailable):
    """Raised when RabbitMQ cannot be reached or refuses a publish."""

    code = "BROKER_ERROR"
    message_vi = "Lỗi hàng đợi thông điệp"
    message_en = "Message broker error"


class DuplicateMessage(StoreError):
    """Raised by the store when a message with the same sender, DocumentId, content hash and
    kind was committed concurrently (the unique key refused the insert)."""

    code = "DUPLICATE_MESSAGE"
    http_status = 409
    message_vi = "Gói tin trùng với gói tin đã được tiếp nhận"
    message_en = "The same packet was already accepted"


class MaintenanceMode(Unavailable):
    """Raised when an operator has switched the process to maintenance mode (``/maintenance``)
    and a caller asks it to accept new work."""

    code = "MAINTENANCE"
    message_vi = "Hệ thống đang bảo trì, vui lòng thử lại sau"
    message_en = "The gateway is in maintenance mode, try again later"


class RequestInvalid(GatewayError):
    """Raised by a protocol adapter when a request lacks a parameter or has a bad value
    (a missing VXP header, an unknown transport acknowledgement, a malformed JSON body)."""

    code = "REQUEST_INVALID"
    http_status = 400
    message_vi = "Yêu cầu thiếu tham số hoặc tham số không hợp lệ"
    message_en = "Missing or invalid request parameter"


class RoutingLoop(RequestInvalid):
    """Raised at intake when a relayed packet's path already names this node, or is longer
    than a federation can be (``gateway.core.hops``): the routes between nodes loop, and
    accepting it would send it round again."""

    code = "ROUTING_LOOP"
    message_vi = "Gói tin quay lại nút đã chuyển nó: định tuyến giữa các nút bị vòng lặp"
    message_en = "The packet came back to a node it already passed: the routes loop"


class FileHashMismatch(GatewayError):
    """Raised by the VXP adapter when the ``hash-file`` header does not match the body."""

    code = "FILE_HASH_MISMATCH"
    http_status = 400
    message_vi = "Mã băm của tệp không khớp với nội dung gửi lên"
    message_en = "The hash-file header does not match the request body"


class DirectoryChangeRefused(GatewayError):
    """Raised when a directory import or lifecycle change is inconsistent: unreadable import
    data, a successor that does not exist, a merge into itself, or a sync that would retire
    too large a part of the catalogue."""

    code = "DIRECTORY_CHANGE_REFUSED"
    http_status = 409
    message_vi = "Thay đổi danh bạ đơn vị không hợp lệ"
    message_en = "The directory change is refused"


_EDXML_STATUS: dict[str, int] = {
    "EDXML_LIMIT": 413,
    "SIGNATURE_ABSENT": 422,
    "SIGNATURE_INVALID": 422,
    "SIGNATURE_WRAPPING": 422,
    "SIGNATURE_WEAK": 422,
    "CERT_UNTRUSTED": 422,
    "CERT_EXPIRED": 422,
}


def http_status_for(error: Exception) -> int:
    """Return the HTTP status that answers ``error`` (gateway or edXML refusal)."""
    if isinstance(error, GatewayError):
        return error.http_status
    if isinstance(error, EdxmlError):
        return _EDXML_STATUS.get(error.code, 400)
    return 500


class NetworkNotAllowed(AuthError):
    """Raised when a calling system's request comes from outside its ``allowed_networks``."""

    code = "NETWORK_NOT_ALLOWED"
    message_vi = "Địa chỉ mạng của hệ thống gọi không được phép"
    message_en = "The calling system may not connect from this network address"


class Overloaded(Unavailable):
    """Raised at intake when this process, or the calling system, already has its bounded
    number of documents in flight (``gateway.core.admission``): refused at once, not queued.
    ``retry_after_s`` is the delay the answer suggests (REST ``Retry-After``)."""

    code = "OVERLOADED"
    message_vi = "Hệ thống đang bận, vui lòng gửi lại sau"
    message_en = "The gateway is busy, retry later"
    retry_after_s: int = 1

    def __init__(self, detail: str = "", *, retry_after_s: int = 1, path: str = "") -> None:
        super().__init__(detail, path=path)
        self.retry_after_s = retry_after_s


class RequestTimeout(GatewayError):
    """Raised at a door when a request body does not arrive within the read timeout
    (``[limits] read_timeout_s``): a slow sender must not hold a connection open for ever."""

    code = "REQUEST_TIMEOUT"
    http_status = 408
    message_vi = "Hết thời gian chờ nhận nội dung yêu cầu"
    message_en = "The request body did not arrive in time"
