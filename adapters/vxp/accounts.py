"""Calling systems as the protocol adapters see them: id → secrets, and the core's ``Caller``.

Every lookup goes through the one registry of calling systems
(:class:`gateway.credentials.registry.CallingSystems`: the live store-backed registry in a running
gateway, or a fixed list such as ``Settings.systems``), so a system added, rotated or
disabled is seen at once. VXP needs the secret itself to check the HMAC
(:meth:`SystemAccounts.record` gives the whole :class:`adapters.vxp.auth.SystemRecord`:
profile, allowed networks, and every secret valid now, two during a rotation overlap); SOAP
compares a presented secret in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Protocol

from adapters.vxp.auth import SystemRecord, parse_networks
from gateway.credentials.auth import Caller
from gateway.credentials.registry import CallingSystems, as_registry
from gateway.credentials.registry import SystemRecord as RegistryRecord
from gateway.errors import AuthError


class SystemLike(Protocol):
    """The fields of one configured system the adapters read (``gateway.config``)."""

    id: str
    agencies: tuple[str, ...]
    policy: str

    @property
    def secret(self) -> Any:
        """The shared secret: a ``SecretStr`` or a plain string."""
        ...


def _plain(secret: Any) -> str:
    getter = getattr(secret, "get_secret_value", None)
    return getter() if callable(getter) else str(secret)


def system_record(system: SystemLike) -> SystemRecord:
    """Return the VXP door's record of a configured system (every valid secret kept)."""
    secrets = [_plain(system.secret)] if getattr(system, "secret", None) is not None else []
    secrets += [_plain(s) for s in getattr(system, "secrets", None) or ()]
    return SystemRecord(
        id=system.id,
        secrets=tuple(dict.fromkeys(s for s in secrets if s)),
        agencies=frozenset(system.agencies),
        policy=system.policy,
        profile=getattr(system, "profile", "sdk") or "sdk",
        allowed_networks=parse_networks(tuple(getattr(system, "allowed_networks", ()) or ())),
    )


@lru_cache(maxsize=4096)
def _door_record(record: RegistryRecord) -> SystemRecord:
    # Registry records are immutable values: the parsed form is computed once per version.
    return system_record(record)


class SystemAccounts:
    """Looks up calling systems by id; never logs or returns a secret to a caller."""

    def __init__(self, systems: Iterable[SystemLike] | CallingSystems | None) -> None:
        self._registry = as_registry(systems)

    def record(self, system_id: str) -> SystemRecord | None:
        """Return the whole record of an enabled ``system_id`` (``None`` when unknown or
        disabled), with the secrets valid now: for VXP checks."""
        found = self._registry.get(system_id)
        if found is None or not found.enabled:
            return None
        return _door_record(found)

    def secrets_for(self, system_id: str) -> tuple[str, ...]:
        """Return the secrets valid now for ``system_id``, newest first (empty: refused)."""
        record = self.record(system_id)
        return record.secrets if record is not None else ()

    def secret_for(self, system_id: str) -> str | None:
        """Return the newest secret of ``system_id`` (``None`` when unknown): for HMAC checks."""
        valid = self.secrets_for(system_id)
        return valid[0] if valid else None

    def caller(self, system_id: str) -> Caller:
        """Return the core ``Caller`` of a known system; raise :class:`AuthError` otherwise."""
        record = self.record(system_id)
        if record is None:
            raise AuthError("unknown system")
        return record.caller

    def check_secret(self, system_id: str, secret: str) -> Caller:
        """Return the caller when ``secret`` is the system's; raise :class:`AuthError` otherwise."""
        record = self.record(system_id)
        # Compare even for an unknown system so timing does not tell which ids exist.
        candidates = record.secrets if record is not None and record.secrets else ("\x00unknown",)
        given = secret.encode("utf-8")
        ok = [hmac.compare_digest(c.encode("utf-8"), given) for c in candidates]
        if record is None or not record.secrets or not any(ok):
            raise AuthError("unknown system or wrong secret")
        return record.caller
