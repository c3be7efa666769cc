"""Calling systems (QLVB) as authentication sees them: one registry interface, typed views.

Every door (native API, VXP, SOAP) looks a calling system up through
:class:`CallingSystems` (``get(system_id) -> SystemRecord | None``). A :class:`SystemRecord`
carries what authentication and policy need, including the secrets valid *now* (two during
a rotation overlap, newest first). :class:`StaticSystems` serves a fixed list (the TOML
``[[systems]]`` of a process without a store, tests); the live registry that follows the
store is :class:`gateway.credentials.live.SqlCallingSystems`.

Views returned to operators (:class:`SystemView`) never carry a secret; a secret is shown
once, in the :class:`IssuedSecret` of ``add`` / ``rotate``.
"""

from __future__ import annotations

import ipaddress
import secrets as _secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

from gateway.errors import GatewayError

PROFILES = ("strict", "sdk")
STATUSES = ("active", "disabled", "suspended", "revoked")
SECRET_BYTES = 32


class SystemUnknown(GatewayError):
    """Raised when an operator names a calling system that is not in the store."""

    code = "SYSTEM_UNKNOWN"
    http_status = 404
    message_vi = "Không có hệ thống gọi này"
    message_en = "No such calling system"


class SystemExists(GatewayError):
    """Raised when ``systems add`` names a calling system that already exists."""

    code = "SYSTEM_EXISTS"
    http_status = 409
    message_vi = "Hệ thống gọi đã tồn tại"
    message_en = "The calling system already exists"


class SystemInvalid(GatewayError):
    """Raised when a calling system's fields are invalid (profile, policy, id, secret)."""

    code = "SYSTEM_INVALID"
    http_status = 400
    message_vi = "Thông tin hệ thống gọi không hợp lệ"
    message_en = "Invalid calling system"


class CredentialsKeyError(GatewayError):
    """Raised when the credentials key is missing, malformed or does not open a secret."""

    code = "CREDENTIALS_KEY"
    http_status = 503
    message_vi = "Khóa mã hóa thông tin xác thực không dùng được"
    message_en = "The credentials encryption key is unusable"


@dataclass(frozen=True)
class SecretSlot:
    """One stored secret of a system: plaintext (in memory only) and when it stops."""

    value: str
    expires_at: datetime | None = None

    def valid_at(self, now: datetime) -> bool:
        """True when the secret is still accepted at ``now``."""
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class SystemRecord:
    """A calling system as authentication sees it (never logged: ``repr`` hides secrets).

    ``secrets`` are the secrets valid when the record was taken from the registry, newest
    first; ``secret`` is the newest (what tokens are issued with).
    """

    id: str
    agencies: tuple[str, ...] = ()
    profile: str = "sdk"
    allowed_networks: tuple[str, ...] = ()
    policy: str = "legacy"
    pdf_signatures: str = "report"
    signer_binding: str = "off"
    enabled: bool = True
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def secret(self) -> SecretStr:
        """The newest valid secret (empty when none is valid)."""
        return SecretStr(self.secrets[0] if self.secrets else "")


@runtime_checkable
class CallingSystems(Protocol):
    """The one lookup every door authenticates through."""

    def get(self, system_id: str) -> SystemRecord | None:
        """Return the system with its currently valid secrets, or ``None`` when unknown."""
        ...


class ActivitySink(Protocol):
    """Where a door notes that a system sent or fetched (the inactivity rule reads it)."""

    def note_activity(self, system_id: str, at: datetime | None = None) -> None:
        """Remember that ``system_id`` sent or fetched at ``at`` (now by default)."""
        ...


@dataclass(frozen=True)
class SystemView:
    """What an operator sees of a calling system: no secret, only how many are valid."""

    id: str
    agencies: tuple[str, ...]
    profile: str
    allowed_networks: tuple[str, ...]
    policy: str
    pdf_signatures: str
    signer_binding: str
    status: str
    valid_secrets: int
    created_at: datetime
    updated_at: datetime
    rotated_at: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    last_activity_at: datetime | None = None
    status_changed_at: datetime | None = None
    status_reason: str | None = None

    @property
    def enabled(self) -> bool:
        """True when the system may authenticate."""
        return self.status == "active"

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form of the view."""

        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at else None

        return {
            "id": self.id,
            "agencies": list(self.agencies),
            "profile": self.profile,
            "allowed_networks": list(self.allowed_networks),
            "policy": self.policy,
            "pdf_signatures": self.pdf_signatures,
            "signer_binding": self.signer_binding,
            "status": self.status,
            "enabled": self.enabled,
            "valid_secrets": self.valid_secrets,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "rotated_at": iso(self.rotated_at),
            "previous_secret_expires_at": iso(self.previous_secret_expires_at),
            "last_activity_at": iso(self.last_activity_at),
            "status_changed_at": iso(self.status_changed_at),
            "status_reason": self.status_reason,
        }


@dataclass(frozen=True)
class IssuedSecret:
    """The answer to ``add`` / ``rotate``: the view and the new secret, shown this once."""

    system: SystemView
    secret: str = field(repr=False)


@dataclass(frozen=True)
class SystemSpec:
    """The fields of a new calling system (``add``), validated on construction."""

    id: str
    agencies: tuple[str, ...] = ()
    profile: str = "sdk"
    allowed_networks: tuple[str, ...] = ()
    policy: str = "legacy"
    pdf_signatures: str = "report"
    signer_binding: str = "off"

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > 100 or self.id != self.id.strip():
            raise SystemInvalid("system id must be 1-100 characters without outer spaces")
        if self.profile not in PROFILES:
            raise SystemInvalid(f"profile must be one of {', '.join(PROFILES)}")
        if self.policy not in ("strict", "legacy", "off"):
            raise SystemInvalid("policy must be strict, legacy or off")
        if self.pdf_signatures not in ("report", "require"):
            raise SystemInvalid("pdf_signatures must be report or require")
        if self.signer_binding not in ("off", "warn", "require"):
            raise SystemInvalid("signer_binding must be off, warn or require")
        for network in self.allowed_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise SystemInvalid(f"allowed network {network!r} is not a CIDR") from exc

    @classmethod
    def of(cls, system: Any) -> SystemSpec:
        """Build a spec from a configured system (``gateway.config.SystemSettings``)."""
        return cls(
            id=system.id,
            agencies=tuple(system.agencies),
            profile=getattr(system, "profile", "sdk"),
            allowed_networks=tuple(getattr(system, "allowed_networks", ())),
            policy=getattr(system, "policy", "legacy"),
            pdf_signatures=getattr(system, "pdf_signatures", "report"),
            signer_binding=getattr(system, "signer_binding", "off"),
        )


def generate_secret() -> str:
    """Return a new random secret (256 bits, URL-safe text)."""
    return _secrets.token_urlsafe(SECRET_BYTES)


def check_secret_text(secret: str) -> str:
    """Return ``secret`` stripped of a trailing newline; refuse a short or empty one."""
    value = secret.rstrip("\r\n")
    if len(value) < 16:
        raise SystemInvalid("a secret must have at least 16 characters")
    return value


def _plain(secret: Any) -> str:
    getter = getattr(secret, "get_secret_value", None)
    return getter() if callable(getter) else str(secret)


def record_of(system: Any) -> SystemRecord:
    """Build a record from a configured system (``SystemSettings`` or alike, one secret)."""
    spec = SystemSpec.of(system)
    return SystemRecord(
        id=spec.id,
        agencies=spec.agencies,
        profile=spec.profile,
        allowed_networks=spec.allowed_networks,
        policy=spec.policy,
        pdf_signatures=spec.pdf_signatures,
        signer_binding=spec.signer_binding,
        enabled=True,
        # A configured system may also list further valid secrets (``secrets``).
        secrets=tuple(
            dict.fromkeys(
                v
                for v in (_plain(system.secret), *map(_plain, getattr(system, "secrets", ()) or ()))
                if v
            )
        ),
    )


class StaticSystems:
    """A :class:`CallingSystems` over a fixed list (configured systems, tests)."""

    def __init__(self, systems: Iterable[Any]) -> None:
        self._records = {
            r.id: r for r in (s if isinstance(s, SystemRecord) else record_of(s) for s in systems)
        }

    def get(self, system_id: str) -> SystemRecord | None:
        """Return the configured system, or ``None``."""
        return self._records.get(system_id)

    def records(self) -> list[SystemRecord]:
        """Every configured system."""
        return list(self._records.values())

    def note_activity(self, system_id: str, at: datetime | None = None) -> None:
        """Activity of a static list is not kept."""


def as_registry(systems: Iterable[Any] | CallingSystems | None) -> CallingSystems:
    """Return ``systems`` when it is a registry, else a :class:`StaticSystems` over it."""
    if systems is None:
        return StaticSystems(())
    if isinstance(systems, CallingSystems) and not isinstance(systems, (list, tuple, Mapping)):
        return systems
    return StaticSystems(systems)


class SystemPolicies(Mapping[str, Any]):
    """A live read-only mapping ``system id -> policy`` over a registry (for code that looks
    per-system settings up by id); ``make`` builds the policy from a record."""

    def __init__(self, registry: CallingSystems, make: Callable[[SystemRecord], Any]) -> None:
        self._registry = registry
        self._make = make

    def __getitem__(self, system_id: str) -> Any:
        record = self._registry.get(system_id)
        if record is None:
            raise KeyError(system_id)
        return self._make(record)

    def __iter__(self) -> Iterator[str]:
        records = getattr(self._registry, "records", None)
        return iter([r.id for r in records()] if callable(records) else [])

    def __len__(self) -> int:
        return sum(1 for _ in self)


def utcnow() -> datetime:
    """The default clock of the credentials code (aware UTC)."""
    return datetime.now(UTC)


Clock = Callable[[], datetime]
