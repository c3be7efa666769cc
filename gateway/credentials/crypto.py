"""Secrets at rest: AES-256-GCM (``cryptography``) keyed outside the database.

A stored secret is ``v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`` with the system id as
associated data, so a ciphertext copied onto another system's row does not open. The key
comes from the configuration or the environment (``[credentials] key`` /
``EDOC_CREDENTIALS_KEY``) or a key file; a database dump alone reveals no secret. A key file
may list several keys (one per line): the first encrypts, every one decrypts, so the key can
be changed by prepending a new one while rows sealed with the old one keep opening.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import time
from pathlib import Path

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.credentials.registry import CredentialsKeyError

log = structlog.get_logger(__name__)

_VERSION = "v1"
_NONCE = 12


def new_key_text() -> str:
    """Return a new key as text (URL-safe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError) as exc:
        raise CredentialsKeyError("the credentials key is not base64") from exc
    if len(raw) != 32:
        raise CredentialsKeyError("the credentials key must be 32 bytes (base64)")
    return raw


class SecretBox:
    """Encrypts and decrypts calling-system secrets with AES-256-GCM."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise CredentialsKeyError("no credentials key")
        self._keys = {hashlib.sha256(k).hexdigest()[:8]: AESGCM(k) for k in keys}
        self._current = next(iter(self._keys))

    @classmethod
    def from_text(cls, text: str) -> SecretBox:
        """Build a box from key text: one base64 key per line, the first one current."""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return cls([_decode_key(line) for line in lines if not line.startswith("#")])

    @property
    def key_id(self) -> str:
        """Short fingerprint of the key that encrypts (safe to log)."""
        return self._current

    def seal(self, system_id: str, secret: str) -> str:
        """Return the stored form of ``secret`` for ``system_id``."""
        nonce = os.urandom(_NONCE)
        sealed = self._keys[self._current].encrypt(nonce, secret.encode(), system_id.encode())
        blob = base64.b64encode(nonce + sealed).decode()
        return f"{_VERSION}:{self._current}:{blob}"

    def open(self, system_id: str, stored: str) -> str:
        """Return the secret of a stored form; raise :class:`CredentialsKeyError` when no
        configured key opens it (wrong key, tampered row, row of another system)."""
        version, _, rest = stored.partition(":")
        key_id, _, blob = rest.partition(":")
        aead = self._keys.get(key_id)
        if version != _VERSION or aead is None:
            raise CredentialsKeyError(f"no configured key opens the secret of {system_id}")
        try:
            raw = base64.b64decode(blob.encode(), validate=True)
            return aead.decrypt(raw[:_NONCE], raw[_NONCE:], system_id.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise CredentialsKeyError(f"the stored secret of {system_id} does not open") from exc


def load_box(key_text: str | None, key_file: Path, *, create: bool = True) -> SecretBox:
    """Return the box for the given key text, else for ``key_file`` (created with a new key
    and mode 0600 when missing and ``create``; two processes racing agree on one key)."""
    if key_text:
        return SecretBox.from_text(key_text)
    try:
        return SecretBox.from_text(key_file.read_text(encoding="ascii"))
    except FileNotFoundError:
        if not create:
            raise CredentialsKeyError(f"credentials key file {key_file} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsKeyError(f"cannot read credentials key file {key_file}: {exc}") from exc
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use its key once written
        for _ in range(100):
            text = key_file.read_text(encoding="ascii")
            if text.strip():
                return SecretBox.from_text(text)
            time.sleep(0.02)
        raise CredentialsKeyError(f"credentials key file {key_file} stays empty") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(new_key_text() + "\n")
    log.warning("credentials.key_created", path=str(key_file))
    return SecretBox.from_text(key_file.read_text(encoding="ascii"))
