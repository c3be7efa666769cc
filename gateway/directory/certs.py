"""Signer certificates of an agency: register one (PEM) in the directory and the store.

The agency's record lists the SHA-256 fingerprints (so the signer binding of a packet can
be checked from memory); the store keeps the certificate itself with its subject and
validity. One directory change and one audit record, like every other directory change.
"""

from __future__ import annotations

from dataclasses import replace

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.directory.changes import update_agency
from gateway.directory.records import store_certificate
from gateway.directory.resolver import normalize_code
from gateway.directory.store import find_agency
from gateway.errors import CodeUnknown, DirectoryChangeRefused
from gateway.store.database import transaction


async def add_certificate(
    engine: AsyncEngine, code: str, pem: str | bytes, *, actor: str, reason: str | None = None
) -> str:
    """Register a signer certificate (PEM) for an agency; return its SHA-256 fingerprint."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise DirectoryChangeRefused(f"not a PEM certificate: {exc}") from exc
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    await update_agency(
        engine,
        code,
        lambda a: (
            a
            if fingerprint in a.certificates
            else replace(a, certificates=(*a.certificates, fingerprint))
        ),
        action="add-certificate",
        actor=actor,
        reason=reason,
    )
    async with transaction(engine) as conn:
        agency = await find_agency(conn, normalize_code(code))
        if agency is None:
            raise CodeUnknown(code, path=code)
        await store_certificate(
            conn,
            agency.code,
            fingerprint,
            pem=data.decode("ascii"),
            subject=cert.subject.rfc4514_string(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
        )
    return fingerprint
