"""Calling systems in the store: :class:`SystemsStore` (add, rotate, disable, enable, ...).

Tables in :mod:`gateway.credentials.tables`: ``calling_systems`` (one row per system: its
agencies, profile, policies, status, last activity), ``system_secrets`` (sealed secrets,
:mod:`gateway.credentials.crypto`; at most two valid at once, the older one with the end of
its overlap in ``expires_at``) and ``systems_version`` (one row, bumped by every change, so
running processes reload within a poll interval; its presence also marks the store as seeded).
Every change is one hash-chained audit record (``system.add``, ``system.rotate``, ...) in
the same transaction; secrets never appear in a record, a log line or a view.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.audit import chain as audit
from gateway.credentials.crypto import SecretBox
from gateway.credentials.registry import (
    Clock,
    IssuedSecret,
    SecretSlot,
    SystemExists,
    SystemRecord,
    SystemSpec,
    SystemUnknown,
    SystemView,
    check_secret_text,
    generate_secret,
    utcnow,
)
from gateway.credentials.tables import REVOKED as _R
from gateway.credentials.tables import SECRETS as _K
from gateway.credentials.tables import SYSTEMS as _T
from gateway.credentials.tables import VERSION as _V
from gateway.credentials.tables import Snapshot, StoredSystem, bump_version, stored_version, view_of
from gateway.directory.tables import utc
from gateway.store.database import translate_errors

log = structlog.get_logger(__name__)


class SystemsStore:
    """Calling systems and their sealed secrets in the store; every method is one
    transaction, bumps the version and writes one audit record."""

    def __init__(
        self,
        engine: AsyncEngine,
        box: SecretBox,
        *,
        clock: Clock = utcnow,
        overlap_days: float = 7.0,
    ) -> None:
        self.engine = engine
        self.box = box
        self.clock = clock
        self.overlap = timedelta(days=overlap_days)

    # -- reading ----------------------------------------------------------------------------

    async def list(self) -> list[SystemView]:
        """Every system, by id."""
        with translate_errors():
            async with self.engine.connect() as conn:
                rows = (await conn.execute(select(_T).order_by(_T.c.id))).all()
                slots = (await conn.execute(select(_K))).all()
        now = self.clock()
        by_id: dict[str, builtins.list[Any]] = {}
        for slot in slots:
            by_id.setdefault(slot.system_id, []).append(slot)
        return [view_of(r, by_id.get(r.id, []), now) for r in rows]

    async def get(self, system_id: str) -> SystemView | None:
        """One system, or ``None`` when unknown."""
        with translate_errors():
            async with self.engine.connect() as conn:
                return await self._get(conn, system_id)

    async def show(self, system_id: str) -> SystemView:
        """One system; raise :class:`SystemUnknown` when unknown."""
        view = await self.get(system_id)
        if view is None:
            raise SystemUnknown(system_id)
        return view

    async def version(self) -> int:
        """The systems' version (0 before the store was seeded)."""
        with translate_errors():
            async with self.engine.connect() as conn:
                return await stored_version(conn) or 0

    async def snapshot(self) -> Snapshot:
        """Every system with its secrets opened (for a registry; never for an answer)."""
        with translate_errors():
            async with self.engine.connect() as conn:
                version = await stored_version(conn) or 0
                rows = (await conn.execute(select(_T))).all()
                slots = (
                    await conn.execute(select(_K).order_by(_K.c.system_id, _K.c.serial.desc()))
                ).all()
                tokens = (await conn.execute(select(_R))).all()
        opened: dict[str, builtins.list[SecretSlot]] = {}
        for slot in slots:
            value = self.box.open(slot.system_id, slot.sealed)
            opened.setdefault(slot.system_id, []).append(SecretSlot(value, utc(slot.expires_at)))
        systems = {}
        for row in rows:
            record = SystemRecord(
                id=row.id,
                agencies=tuple(row.agencies or ()),
                profile=row.profile,
                allowed_networks=tuple(row.allowed_networks or ()),
                policy=row.policy,
                pdf_signatures=row.pdf_signatures,
                signer_binding=row.signer_binding,
                enabled=row.status == "active",
            )
            systems[row.id] = StoredSystem(record, tuple(opened.get(row.id, ())))
        now = self.clock()
        revoked = frozenset(
            (t.system_id, t.token_id) for t in tokens if (utc(t.expires_at) or now) >= now
        )
        return Snapshot(version, systems, revoked)

    async def idle(self, cutoff: datetime) -> builtins.list[SystemView]:
        """Active systems that neither sent nor fetched since ``cutoff``; a system never
        seen counts from its creation, a re-enabled one from its re-enabling."""

        def since(view: SystemView) -> datetime:
            moments = [view.created_at, view.last_activity_at, view.status_changed_at]
            return max(m for m in moments if m is not None)

        active = await self._where(_T.c.status == "active")
        return [v for v in active if since(v) < cutoff]

    async def suspended_before(self, cutoff: datetime) -> builtins.list[SystemView]:
        """Systems suspended for inactivity before ``cutoff`` (due for revocation)."""
        return await self._where((_T.c.status == "suspended") & (_T.c.status_changed_at < cutoff))

    # -- changing ---------------------------------------------------------------------------

    async def add(
        self, spec: SystemSpec, *, secret: str | None = None, actor: str = "cli"
    ) -> IssuedSecret:
        """Create a system with one secret (generated unless given); the secret is in the
        answer, this once. Raise :class:`SystemExists` when the id is taken."""
        value = check_secret_text(secret) if secret is not None else generate_secret()
        now = self.clock()
        with translate_errors():
            try:
                async with self.engine.begin() as conn:
                    if await conn.scalar(select(_T.c.id).where(_T.c.id == spec.id)):
                        raise SystemExists(spec.id)
                    await self._insert(conn, spec, value, now)
                    await bump_version(conn, now)
                    await self._audit(conn, "system.add", actor, spec.id, _spec_detail(spec))
                    view = await self._get(conn, spec.id)
            except IntegrityError as exc:  # created concurrently by another process
                raise SystemExists(spec.id) from exc
        log.info("system.added", system=spec.id, actor=actor)
        assert view is not None
        return IssuedSecret(view, value)

    async def rotate(
        self,
        system_id: str,
        *,
        secret: str | None = None,
        overlap_days: float | None = None,
        actor: str = "cli",
    ) -> IssuedSecret:
        """Give the system a new secret; the previous one stays valid for the overlap
        (default from the configuration), any older one stops now."""
        value = check_secret_text(secret) if secret is not None else generate_secret()
        overlap = self.overlap if overlap_days is None else timedelta(days=overlap_days)
        now = self.clock()
        with translate_errors():
            async with self.engine.begin() as conn:
                await self._require(conn, system_id)
                slots = (
                    await conn.execute(
                        select(_K).where(_K.c.system_id == system_id).order_by(_K.c.serial.desc())
                    )
                ).all()
                valid = [s for s in slots if s.expires_at is None or now < utc(s.expires_at)]
                await conn.execute(
                    delete(_K).where(
                        (_K.c.system_id == system_id)
                        & _K.c.serial.notin_([s.serial for s in valid[:1]] or [-1])
                    )
                )
                if valid:
                    ends = now + overlap
                    current = utc(valid[0].expires_at)
                    await conn.execute(
                        update(_K)
                        .where((_K.c.system_id == system_id) & (_K.c.serial == valid[0].serial))
                        .values(expires_at=min(ends, current) if current else ends)
                    )
                serial = (slots[0].serial + 1) if slots else 1
                await conn.execute(
                    insert(_K).values(
                        system_id=system_id,
                        serial=serial,
                        sealed=self.box.seal(system_id, value),
                        created_at=now,
                        expires_at=None,
                    )
                )
                await conn.execute(
                    update(_T).where(_T.c.id == system_id).values(rotated_at=now, updated_at=now)
                )
                await bump_version(conn, now)
                detail = {"overlap_days": overlap.total_seconds() / 86400, "serial": serial}
                await self._audit(conn, "system.rotate", actor, system_id, detail)
                view = await self._get(conn, system_id)
        log.info("system.rotated", system=system_id, actor=actor, serial=serial)
        assert view is not None
        return IssuedSecret(view, value)

    async def disable(
        self, system_id: str, *, actor: str = "cli", reason: str | None = None
    ) -> SystemView:
        """Refuse the system's requests from now on (its secrets are kept)."""
        return await self._set_status(system_id, "disabled", actor, reason)

    async def enable(self, system_id: str, *, actor: str = "cli") -> SystemView:
        """Accept the system's requests again (a revoked system also needs ``rotate``)."""
        return await self._set_status(system_id, "active", actor, None)

    async def suspend(self, system_id: str, *, actor: str, reason: str) -> SystemView:
        """Suspend the system (inactivity rule): refused until enabled; revocable later."""
        return await self._set_status(system_id, "suspended", actor, reason)

    async def revoke(self, system_id: str, *, actor: str, reason: str) -> SystemView:
        """Revoke the system: refused, and every secret of it erased."""
        return await self._set_status(system_id, "revoked", actor, reason, erase=True)

    async def seed(self, systems: Iterable[Any], *, actor: str = "seed") -> int:
        """Copy the configured systems into the store on its first start only (the store
        has never held a version row); return how many were copied."""
        items = list(systems)
        now = self.clock()
        with translate_errors():
            try:
                async with self.engine.begin() as conn:
                    if await stored_version(conn) is not None:
                        return 0
                    await conn.execute(insert(_V).values(id=1, version=1, changed_at=now))
                    for system in items:
                        spec = SystemSpec.of(system)
                        plain = system.secret.get_secret_value()
                        await self._insert(conn, spec, plain, now)
                    detail = {"systems": [s.id for s in items]}
                    await self._audit(conn, "system.seed", actor, None, detail)
            except IntegrityError:  # another process seeded first
                return 0
        log.info("systems.seeded", count=len(items))
        return len(items)

    async def record_activity(self, seen: Mapping[str, datetime]) -> None:
        """Write the last sending/fetching instant of each system (never moves back)."""
        if not seen:
            return
        with translate_errors():
            async with self.engine.begin() as conn:
                for system_id, at in seen.items():
                    await conn.execute(
                        update(_T)
                        .where(
                            (_T.c.id == system_id)
                            & ((_T.c.last_activity_at.is_(None)) | (_T.c.last_activity_at < at))
                        )
                        .values(last_activity_at=at)
                    )

    # -- helpers ----------------------------------------------------------------------------

    async def _insert(
        self, conn: AsyncConnection, spec: SystemSpec, secret: str, now: datetime
    ) -> None:
        await conn.execute(
            insert(_T).values(
                id=spec.id,
                agencies=list(spec.agencies),
                profile=spec.profile,
                allowed_networks=list(spec.allowed_networks),
                policy=spec.policy,
                pdf_signatures=spec.pdf_signatures,
                signer_binding=spec.signer_binding,
                status="active",
                created_at=now,
                updated_at=now,
            )
        )
        await conn.execute(
            insert(_K).values(
                system_id=spec.id,
                serial=1,
                sealed=self.box.seal(spec.id, secret),
                created_at=now,
                expires_at=None,
            )
        )

    async def _set_status(
        self, system_id: str, status: str, actor: str, reason: str | None, *, erase: bool = False
    ) -> SystemView:
        now = self.clock()
        with translate_errors():
            async with self.engine.begin() as conn:
                before = await self._require(conn, system_id)
                values: dict[str, Any] = {"status": status, "updated_at": now}
                if before.status != status:
                    values.update(status_changed_at=now, status_reason=reason)
                await conn.execute(update(_T).where(_T.c.id == system_id).values(**values))
                if erase:
                    await conn.execute(delete(_K).where(_K.c.system_id == system_id))
                await bump_version(conn, now)
                detail = {"from": before.status, "to": status, "reason": reason}
                await self._audit(conn, f"system.{_VERBS[status]}", actor, system_id, detail)
                view = await self._get(conn, system_id)
        log.info("system.status", system=system_id, status=status, actor=actor, reason=reason)
        assert view is not None
        return view

    async def _require(self, conn: AsyncConnection, system_id: str) -> Any:
        row = (await conn.execute(select(_T).where(_T.c.id == system_id))).first()
        if row is None:
            raise SystemUnknown(system_id)
        return row

    async def _get(self, conn: AsyncConnection, system_id: str) -> SystemView | None:
        row = (await conn.execute(select(_T).where(_T.c.id == system_id))).first()
        if row is None:
            return None
        slots = (await conn.execute(select(_K).where(_K.c.system_id == system_id))).all()
        return view_of(row, list(slots), self.clock())

    async def _where(self, condition: Any) -> builtins.list[SystemView]:
        with translate_errors():
            async with self.engine.connect() as conn:
                ids = (await conn.scalars(select(_T.c.id).where(condition))).all()
                views = [await self._get(conn, i) for i in ids]
        return [v for v in views if v is not None]

    @staticmethod
    async def _audit(
        conn: AsyncConnection, event: str, actor: str, system_id: str | None, detail: dict
    ) -> None:
        await audit.append(conn, event=event, actor=actor, detail={"system": system_id, **detail})


_VERBS = {"active": "enable", "disabled": "disable", "suspended": "suspend", "revoked": "revoke"}


def _spec_detail(spec: SystemSpec) -> dict[str, Any]:
    return {
        "agencies": list(spec.agencies),
        "profile": spec.profile,
        "policy": spec.policy,
        "allowed_networks": list(spec.allowed_networks),
        "pdf_signatures": spec.pdf_signatures,
        "signer_binding": spec.signer_binding,
    }
