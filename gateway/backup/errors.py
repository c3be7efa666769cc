"""Refusals of ``edoc-gateway backup`` and ``restore`` (beside the tree of ``gateway.errors``).

GatewayError
├── BackupFailed            BACKUP_FAILED            the snapshot could not be made
├── BackupDamaged           BACKUP_DAMAGED           a file of the backup is missing or altered
├── BackupMismatch          BACKUP_MISMATCH          backup of another node, store kind, format
├── RestoreTargetNotEmpty   RESTORE_TARGET_NOT_EMPTY the target store already holds data
├── RestoreVerifyFailed     RESTORE_VERIFY_FAILED    audit chain or blobs wrong after restore
└── BackupUnsupported       BACKUP_BLOB_STORE_UNSUPPORTED  blobs in S3: not copied by a backup
"""

from __future__ import annotations

from gateway.errors import GatewayError


class BackupFailed(GatewayError):
    """Raised when the snapshot of the store or of a referenced blob cannot be made."""

    code = "BACKUP_FAILED"
    message_vi = "Không sao lưu được dữ liệu"
    message_en = "The backup could not be made"


class BackupDamaged(GatewayError):
    """Raised when a backup's manifest, database file or a blob is missing or altered."""

    code = "BACKUP_DAMAGED"
    message_vi = "Bản sao lưu bị hỏng hoặc bị thay đổi"
    message_en = "The backup is damaged or altered"


class BackupMismatch(GatewayError):
    """Raised when a backup belongs to another node, another store kind or format."""

    code = "BACKUP_MISMATCH"
    message_vi = "Bản sao lưu không khớp với nút này"
    message_en = "The backup does not match this node"


class RestoreTargetNotEmpty(GatewayError):
    """Raised when the store to restore into already holds messages or audit records."""

    code = "RESTORE_TARGET_NOT_EMPTY"
    message_vi = "Kho dữ liệu đích đã có dữ liệu (dùng --force để ghi đè)"
    message_en = "The target store already holds data (use --force to replace it)"


class RestoreVerifyFailed(GatewayError):
    """Raised when the restored store fails its audit chain or blob verification."""

    code = "RESTORE_VERIFY_FAILED"
    message_vi = "Dữ liệu sau khôi phục không vượt qua kiểm tra"
    message_en = "The restored store failed verification"


class BackupUnsupported(GatewayError):
    """Raised when the node's blobs are in an S3 store, which backup and restore do not copy."""

    code = "BACKUP_BLOB_STORE_UNSUPPORTED"
    message_vi = (
        "Sao lưu và khôi phục không hỗ trợ kho blob S3: hãy sao lưu bucket bằng công cụ "
        "của kho lưu trữ đối tượng"
    )
    message_en = (
        "Backup and restore do not support the S3 blob store: back up the bucket with the "
        "object store's own tools"
    )
