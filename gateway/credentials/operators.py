"""Operator accounts of the web console, kept in the store (table ``operators``).

Passwords are hashed with Argon2id (argon2-cffi's defaults); the hash is rehashed on login
when the parameters change. Repeated failed logins lock an account for a while
(``LOCK_AFTER`` failures, ``LOCK_FOR``); a disabled account never logs in. Every change and
every login decision leaves one record in the audit chain, in the same transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, Integer, String, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from gateway.audit import chain as audit
from gateway.errors import GatewayError
from gateway.store.base import Base
from gateway.store.database import transaction
from gateway.store.models import UTCDateTime

ROLES = ("auditor", "operator", "admin")
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD = 10
_HASHER = PasswordHasher()
# Verified against when the name is unknown, so both answers take the same time.
_DUMMY_HASH = _HASHER.hash("edoc-gateway: no such operator")


class OperatorRow(Base):
    """One console operator: name, role, Argon2 hash, lock state."""

    __tablename__ = "operators"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OperatorRefused(GatewayError):
    """Raised when an operator account change is refused (bad name, role or password)."""

    code = "OPERATOR_REFUSED"
    http_status = 422
    message_vi = "Không thực hiện được thay đổi tài khoản người vận hành"
    message_en = "The operator account change was refused"


class LoginFailed(GatewayError):
    """Raised when a console login is refused (unknown name, wrong password, disabled)."""

    code = "CONSOLE_LOGIN_FAILED"
    http_status = 401
    message_vi = "Tên đăng nhập hoặc mật khẩu không đúng"
    message_en = "Wrong user name or password"


class AccountLocked(LoginFailed):
    """Raised when the account is locked after repeated failed logins."""

    code = "CONSOLE_ACCOUNT_LOCKED"
    http_status = 423
    message_vi = "Tài khoản tạm khóa do đăng nhập sai nhiều lần, hãy thử lại sau"
    message_en = "Account locked after repeated failed logins; try again later"


@dataclass(frozen=True)
class Operator:
    """An operator as the console sees it (never the hash)."""

    name: str
    role: str
    disabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None

    def may(self, role: str) -> bool:
        """True when this operator's role includes ``role`` (auditor < operator < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


_T = OperatorRow.__table__


def _now() -> datetime:
    return datetime.now(UTC)


def _operator(row: object) -> Operator:
    return Operator(
        name=row.name,  # type: ignore[attr-defined]
        role=row.role,  # type: ignore[attr-defined]
        disabled=bool(row.disabled),  # type: ignore[attr-defined]
        locked_until=row.locked_until,  # type: ignore[attr-defined]
        last_login_at=row.last_login_at,  # type: ignore[attr-defined]
    )


def _check_name(name: str) -> str:
    clean = name.strip()
    if not clean or len(clean) > 64 or not all(c.isalnum() or c in "._-@" for c in clean):
        raise OperatorRefused(f"invalid operator name {name!r} (letters, digits, . _ - @)")
    return clean


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise OperatorRefused(f"password shorter than {MIN_PASSWORD} characters")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise OperatorRefused(f"unknown role {role!r} (one of {', '.join(ROLES)})")


async def _get(conn: AsyncConnection, name: str) -> object | None:
    return (await conn.execute(select(_T).where(_T.c.name == name))).first()


async def add(engine: AsyncEngine, name: str, role: str, password: str, *, actor: str) -> Operator:
    """Create an operator account; refused when the name exists or the input is invalid."""
    name = _check_name(name)
    _check_role(role)
    _check_password(password)
    hashed = await asyncio.to_thread(_HASHER.hash, password)
    now = _now()
    async with transaction(engine) as conn:
        if await _get(conn, name) is not None:
            raise OperatorRefused(f"operator {name!r} exists already")
        await conn.execute(
            insert(OperatorRow).values(
                name=name,
                role=role,
                password_hash=hashed,
                disabled=False,
                failed_logins=0,
                created_at=now,
                updated_at=now,
            )
        )
        await audit.append(
            conn, event="operator.added", actor=actor, detail={"operator": name, "role": role}
        )
        row = await _get(conn, name)
    return _operator(row)


async def _change(engine: AsyncEngine, name: str, event: str, actor: str, **values: object) -> None:
    async with transaction(engine) as conn:
        done = await conn.execute(
            update(OperatorRow).where(_T.c.name == name).values(updated_at=_now(), **values)
        )
        if done.rowcount != 1:
            raise OperatorRefused(f"no operator named {name!r}")
        detail = {"operator": name, **{k: v for k, v in values.items() if k != "password_hash"}}
        await audit.append(conn, event=event, actor=actor, detail=detail)


async def set_password(engine: AsyncEngine, name: str, password: str, *, actor: str) -> None:
    """Replace an operator's password; also lifts a lock (the admin vouches for it)."""
    _check_password(password)
    await _change(
        engine,
        name,
        "operator.password",
        actor,
        password_hash=await asyncio.to_thread(_HASHER.hash, password),
        failed_logins=0,
        locked_until=None,
    )


async def disable(engine: AsyncEngine, name: str, *, actor: str) -> None:
    """Disable an operator account: it can no longer log in; open sessions end."""
    await _change(engine, name, "operator.disabled", actor, disabled=True)


async def set_role(engine: AsyncEngine, name: str, role: str, *, actor: str) -> None:
    """Change an operator's role."""
    _check_role(role)
    await _change(engine, name, "operator.role", actor, role=role)


async def get(engine: AsyncEngine, name: str) -> Operator | None:
    """Return the operator with this name, or ``None``."""
    async with engine.connect() as conn:
        row = await _get(conn, name)
    return _operator(row) if row is not None else None


async def list_all(engine: AsyncEngine) -> list[Operator]:
    """Return every operator account, by name."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(_T).order_by(_T.c.name))).all()
    return [_operator(r) for r in rows]


async def login(engine: AsyncEngine, name: str, password: str, *, remote: str | None) -> Operator:
    """Check a login and record the outcome in the audit chain (one record).

    Raises :class:`AccountLocked` while the account is locked, :class:`LoginFailed` for an
    unknown name, a wrong password or a disabled account (the same answer for all three).
    The refusal is raised after the commit, so its audit record and the failure count stay.
    Argon2 runs in a thread, outside any transaction: it takes a good part of a second on
    purpose, and must hold neither the event loop nor the store's write lock meanwhile.
    """
    async with engine.connect() as conn:
        row = await _get(conn, name) if name else None
    stored = row.password_hash if row is not None else _DUMMY_HASH  # type: ignore[attr-defined]
    verified = await asyncio.to_thread(_verify, stored, password)
    async with transaction(engine) as conn:
        operator, refusal = await _decide(conn, name, password, verified, remote)
    if refusal is not None:
        raise refusal
    assert operator is not None
    return operator


def _verify(stored: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


async def _decide(
    conn: AsyncConnection, name: str, password: str, verified: bool, remote: str | None
) -> tuple[Operator | None, LoginFailed | None]:
    now = _now()
    row = await _get(conn, name) if name else None
    detail = {"operator": name[:64], "remote": remote}
    actor = f"console:{name[:64]}" if row is not None else None
    if row is not None and row.locked_until is not None and row.locked_until > now:  # type: ignore[attr-defined]
        await audit.append(
            conn, event="console.login", actor=actor, outcome=AccountLocked.code, detail=detail
        )
        return None, AccountLocked(name)
    if row is None or not verified or row.disabled:  # type: ignore[attr-defined]
        refusal: LoginFailed = LoginFailed(name)
        if row is not None:
            failures = int(row.failed_logins) + 1  # type: ignore[attr-defined]
            values: dict[str, object] = {"failed_logins": failures}
            if failures >= LOCK_AFTER:
                values = {"failed_logins": 0, "locked_until": now + LOCK_FOR}
                refusal = AccountLocked(name)
            await conn.execute(update(OperatorRow).where(_T.c.name == name).values(**values))
        await audit.append(
            conn, event="console.login", actor=actor, outcome=refusal.code, detail=detail
        )
        return None, refusal
    values = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
    if _HASHER.check_needs_rehash(row.password_hash):  # type: ignore[attr-defined]
        values["password_hash"] = _HASHER.hash(password)
    await conn.execute(update(OperatorRow).where(_T.c.name == name).values(**values))
    await audit.append(conn, event="console.login", actor=actor, detail=detail)
    return _operator(await _get(conn, name)), None
