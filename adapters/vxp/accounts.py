"""Calling systems as the protocol adapters see them: id → secrets, and the core's ``Caller``.

Every lookup goes through the one registry of calling systems
(:class:`gateway.credentials.CallingSystems`: the live store-backed registry in a running
gateway, or a fixed list such as ``Settings.systems``), so a system added, rotated or
disabled is seen at once. VXP needs the secret itself to check the HMAC (during a rotation
overlap either of the two valid secrets signs); SOAP compares a presented secret in constant
time.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Protocol, TypeVar

from gateway.auth import Caller
from gateway.credentials import CallingSystems, SystemRecord, as_registry
from gateway.errors import AuthError

T = TypeVar("T")


class SystemLike(Protocol):
    """The fields of one configured system the adapters read (``gateway.config``)."""

    id: str
    agencies: tuple[str, ...]
    policy: str

    @property
    def secret(self) -> Any:
        """The shared secret: a ``SecretStr`` or a plain string."""
        ...


def _fixed(secret: str, _system_id: str) -> str | None:
    return secret


class SystemAccounts:
    """Looks up calling systems by id; never logs or returns a secret to a caller."""

    def __init__(self, systems: Iterable[SystemLike] | CallingSystems | None) -> None:
        self._registry = as_registry(systems)

    def _live(self, system_id: str) -> SystemRecord | None:
        record = self._registry.get(system_id)
        return record if record is not None and record.enabled else None

    def record(self, system_id: str) -> SystemRecord | None:
        """The enabled system's record (profile, allowed networks, policies), or ``None``."""
        return self._live(system_id)

    def secrets_for(self, system_id: str) -> tuple[str, ...]:
        """Return the secrets valid now for ``system_id``, newest first (empty: refused)."""
        record = self._live(system_id)
        return record.secrets if record is not None else ()

    def secret_for(self, system_id: str) -> str | None:
        """Return the newest secret of ``system_id`` (``None`` when unknown): for HMAC checks."""
        valid = self.secrets_for(system_id)
        return valid[0] if valid else None

    def verify_any(self, verify: Callable[[Callable[[str], str | None]], T]) -> T:
        """Run ``verify`` (given a ``secret_for`` lookup) with the newest secret, then with
        the previous one while a rotation overlap lasts: a signature by either is accepted.
        Only a plain :class:`AuthError` (wrong signature) is retried, never an expired
        timestamp or a replay."""
        asked: list[str] = []

        def newest(system_id: str) -> str | None:
            asked.append(system_id)
            return self.secret_for(system_id)

        try:
            return verify(newest)
        except AuthError as exc:
            older = self.secrets_for(asked[0])[1:] if asked else ()
            if type(exc) is not AuthError or not older:
                raise
            for secret in older:
                try:
                    return verify(partial(_fixed, secret))
                except AuthError as again:
                    if type(again) is not AuthError:
                        raise
            raise

    def caller(self, system_id: str) -> Caller:
        """Return the core ``Caller`` of a known system; raise :class:`AuthError` otherwise."""
        record = self._live(system_id)
        if record is None:
            raise AuthError("unknown system")
        return Caller(
            system_id=record.id, agencies=frozenset(record.agencies), policy=record.policy
        )

    def check_secret(self, system_id: str, secret: str) -> Caller:
        """Return the caller when ``secret`` is the system's; raise :class:`AuthError` otherwise."""
        presented = secret.encode("utf-8")
        # Compare even for an unknown system so timing does not tell which ids exist.
        valid = self.secrets_for(system_id) or ("\x00unknown",)
        matches = [hmac.compare_digest(v.encode("utf-8"), presented) for v in valid]
        if not any(matches) or not self.secrets_for(system_id):
            raise AuthError("unknown system or wrong secret")
        return self.caller(system_id)
