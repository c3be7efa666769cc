"""Tables of the calling systems and their typed forms: rows → records and views.

``calling_systems`` (one row per system: agencies, profile, policies, status, last
activity), ``system_secrets`` (sealed secrets, at most two valid at once, the older one with
the end of its overlap in ``expires_at``) and ``systems_version`` (one row, bumped by every
change; its presence also marks the store as seeded). Used by
:mod:`gateway.credentials.store`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, Text, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column

from gateway.credentials.registry import SecretSlot, SystemRecord, SystemView
from gateway.directory.tables import utc
from gateway.store.base import Base


class CallingSystemRow(Base):
    """One calling system (QLVB); never deleted (a retired system stays ``revoked``)."""

    __tablename__ = "calling_systems"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    agencies: Mapped[list[str]] = mapped_column(JSON)
    profile: Mapped[str] = mapped_column(String(16))
    allowed_networks: Mapped[list[str]] = mapped_column(JSON)
    policy: Mapped[str] = mapped_column(String(16))
    pdf_signatures: Mapped[str] = mapped_column(String(16))
    signer_binding: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(String(1000))
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SystemSecretRow(Base):
    """One sealed secret of a system; ``expires_at`` is set when a rotation supersedes it."""

    __tablename__ = "system_secrets"

    system_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    serial: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SystemsVersionRow(Base):
    """The calling systems' version (one row, id 1); bumped by every change."""

    __tablename__ = "systems_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RevokedTokenRow(Base):
    """One revoked bearer token (``gateway.credentials.tokens``), kept until it would have
    expired anyway; every process refuses it once its registry reloaded."""

    __tablename__ = "revoked_tokens"

    system_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(1000))


SYSTEMS = _T = CallingSystemRow.__table__
REVOKED = RevokedTokenRow.__table__
SECRETS = _K = SystemSecretRow.__table__
VERSION = _V = SystemsVersionRow.__table__


@dataclass(frozen=True)
class StoredSystem:
    """A system as loaded by a registry: its record (no secrets) and its secret slots."""

    record: SystemRecord
    slots: tuple[SecretSlot, ...]  # newest first

    def at(self, now: datetime) -> SystemRecord:
        """The record with the secrets valid at ``now``."""
        valid = tuple(s.value for s in self.slots if s.valid_at(now))
        return replace(self.record, secrets=valid)


@dataclass(frozen=True)
class Snapshot:
    """Every system of the store at one version."""

    version: int
    systems: dict[str, StoredSystem]
    revoked: frozenset[tuple[str, str]] = frozenset()  # (system id, token id), not expired


async def stored_version(conn: AsyncConnection) -> int | None:
    """The version of the stored systems (None before the first change)."""
    value = await conn.scalar(select(_V.c.version).where(_V.c.id == 1))
    return None if value is None else int(value)


async def bump_version(conn: AsyncConnection, at: datetime) -> None:
    """Count one change to the stored systems, so every process re-reads them."""
    done = await conn.execute(
        update(_V).where(_V.c.id == 1).values(version=_V.c.version + 1, changed_at=at)
    )
    if done.rowcount == 0:
        await conn.execute(insert(_V).values(id=1, version=1, changed_at=at))


def view_of(row: Any, slots: list[Any], now: datetime) -> SystemView:
    """The typed view of a stored system and its secret slots, as valid at ``now``."""
    valid = [s for s in slots if s.expires_at is None or now < utc(s.expires_at)]
    ending = [utc(s.expires_at) for s in valid if s.expires_at is not None]
    return SystemView(
        id=row.id,
        agencies=tuple(row.agencies or ()),
        profile=row.profile,
        allowed_networks=tuple(row.allowed_networks or ()),
        policy=row.policy,
        pdf_signatures=row.pdf_signatures,
        signer_binding=row.signer_binding,
        status=row.status,
        valid_secrets=len(valid) if row.status == "active" else 0,
        created_at=utc(row.created_at),  # type: ignore[arg-type]
        updated_at=utc(row.updated_at),  # type: ignore[arg-type]
        rotated_at=utc(row.rotated_at),
        previous_secret_expires_at=max(ending) if ending else None,  # type: ignore[type-var]
        last_activity_at=utc(row.last_activity_at),
        status_changed_at=utc(row.status_changed_at),
        status_reason=row.status_reason,
    )
