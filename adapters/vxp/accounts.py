"""Calling systems as the protocol adapters see them: id → secret, and the core's ``Caller``.

Built from the configured systems (``Settings.systems``: id, secret, agencies, policy). VXP
needs the secret itself to check the HMAC; SOAP compares a presented secret in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any, Protocol

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


class SystemAccounts:
    """Looks up calling systems by id; never logs or returns a secret to a caller."""

    def __init__(self, systems: Iterable[SystemLike]) -> None:
        self._secrets: dict[str, str] = {}
        self._callers: dict[str, Caller] = {}
        for system in systems:
            self._secrets[system.id] = _plain(system.secret)
            self._callers[system.id] = Caller(
                system_id=system.id,
                agencies=frozenset(system.agencies),
                policy=system.policy,
            )

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
        expected = self._secrets.get(system_id)
        # Compare even for an unknown system so timing does not tell which ids exist.
        ok = hmac.compare_digest(
            (expected or "\x00unknown").encode("utf-8"), secret.encode("utf-8")
        )
        if expected is None or not ok:
            raise AuthError("unknown system or wrong secret")
        return self._callers[system_id]
