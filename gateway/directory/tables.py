"""Directory tables on :class:`gateway.store.base.Base`, and the small helpers every query uses.

``agencies``, ``agency_successors``, ``agency_systems``, ``agency_certificates``,
``agency_accepts`` (the sender prefixes an agency receives from, ``gateway.directory.accepts``),
``directory_changes`` (one audit record per agency change: who, when, before, after) and
``directory_version`` (one row). Every change set bumps the version and stamps the changed
agencies with it (``revision``), so a running process reloads only what changed since the
version it last saw.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base

CHUNK = 5000  # rows per IN (...) list or executemany batch


class AgencyRow(Base):
    """One agency; never deleted (retired agencies keep their row and status)."""

    __tablename__ = "agencies"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    old_code: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(500))
    parent_code: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active")
    effective_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    endpoint_kind: Mapped[str] = mapped_column(String(16), default="mailbox")
    endpoint_url: Mapped[str | None] = mapped_column(String(2000))
    endpoint_node: Mapped[str | None] = mapped_column(String(200))
    mail: Mapped[str | None] = mapped_column(String(320))
    revision: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgencySuccessorRow(Base):
    """A successor of a merged, renamed, split or dissolved agency, in order."""

    __tablename__ = "agency_successors"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    successor_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    effective_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgencySystemRow(Base):
    """A calling system (QLVB) bound to an agency: it may send and receive for it."""

    __tablename__ = "agency_systems"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    system_id: Mapped[str] = mapped_column(String(100), primary_key=True)

    __table_args__ = (Index("ix_agency_systems_system", "system_id"),)


class AgencyCertificateRow(Base):
    """A signer certificate of an agency: SHA-256 fingerprint, PEM (if known), validity."""

    __tablename__ = "agency_certificates"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    pem: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(1000))
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgencyAcceptsRow(Base):
    """One sender prefix an agency receives from (none: it receives from everyone)."""

    __tablename__ = "agency_accepts"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(64), primary_key=True)


class DirectoryChangeRow(Base):
    """Audit record of one directory change: who, when, what, before and after."""

    __tablename__ = "directory_changes"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    version: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str | None] = mapped_column(String(1000))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DirectoryVersionRow(Base):
    """The directory's version (one row, id 1); bumped by every change set."""

    __tablename__ = "directory_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


TABLES = [
    m.__table__
    for m in (
        AgencyRow,
        AgencySuccessorRow,
        AgencySystemRow,
        AgencyCertificateRow,
        AgencyAcceptsRow,
        DirectoryChangeRow,
        DirectoryVersionRow,
    )
]
AGENCIES = AgencyRow.__table__
SUCCESSORS = AgencySuccessorRow.__table__
SYSTEMS = AgencySystemRow.__table__
CERTIFICATES = AgencyCertificateRow.__table__
ACCEPTS = AgencyAcceptsRow.__table__
CHANGES = DirectoryChangeRow.__table__
VERSION = DirectoryVersionRow.__table__


def utc(at: datetime | None) -> datetime | None:
    """Return ``at`` as an aware UTC datetime (naive values from SQLite are UTC)."""
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """Split ``items`` into slices of at most ``size`` (bounded IN lists and batches)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
