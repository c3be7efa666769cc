"""Calling systems as the protocol adapters see them: id → secret, and the core's ``Caller``.

Built from the configured systems (``Settings.systems``: id, secret, agencies, policy,
profile, allowed networks). VXP needs the secret itself to check the HMAC
(:meth:`SystemAccounts.record` gives the whole :class:`adapters.vxp.auth.SystemRecord`);
SOAP compares a presented secret in constant time. A system may carry more than one valid
secret (``secrets``, e.g. during a rotation): any of them is accepted.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any, Protocol

from adapters.vxp.auth import SystemRecord, parse_networks
from gateway.auth import Caller
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


class SystemAccounts:
    """Looks up calling systems by id; never logs or returns a secret to a caller."""

    def __init__(self, systems: Iterable[SystemLike]) -> None:
        self._secrets: dict[str, str] = {}
        self._callers: dict[str, Caller] = {}
        self._records: dict[str, SystemRecord] = {}
        for system in systems:
            record = system_record(system)
            self._records[system.id] = record
            self._secrets[system.id] = record.secrets[0] if record.secrets else ""
            self._callers[system.id] = record.caller

    def record(self, system_id: str) -> SystemRecord | None:
        """Return the whole record of ``system_id`` (``None`` when unknown): for VXP checks."""
        return self._records.get(system_id)

    def secret_for(self, system_id: str) -> str | None:
        """Return the secret of ``system_id`` (``None`` when unknown): for HMAC checks."""
        return self._secrets.get(system_id)

    def caller(self, system_id: str) -> Caller:
        """Return the core ``Caller`` of a known system; raise :class:`AuthError` otherwise."""
        caller = self._callers.get(system_id)
        if caller is None:
            raise AuthError("unknown system")
        return caller

    def check_secret(self, system_id: str, secret: str) -> Caller:
        """Return the caller when ``secret`` is the system's; raise :class:`AuthError` otherwise."""
        record = self._records.get(system_id)
        # Compare even for an unknown system so timing does not tell which ids exist.
        candidates = record.secrets if record is not None and record.secrets else ("\x00unknown",)
        given = secret.encode("utf-8")
        ok = [hmac.compare_digest(c.encode("utf-8"), given) for c in candidates]
        if record is None or not record.secrets or not any(ok):
            raise AuthError("unknown system or wrong secret")
        return self._callers[system_id]
