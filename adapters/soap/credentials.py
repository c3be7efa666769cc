"""Who calls the hub doors: ``OrganId`` + ``Token`` (or a trusted LGSP assertion).

``OrganId`` must be one of the calling system's agencies (configured or bound in the
directory); ``Token`` is that system's secret or a bearer token the gateway issued for it
(``gateway.credentials.auth``). Secrets are compared in constant time, also for unknown
agencies, and are never logged or returned.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable
from typing import Any

from adapters.soap.lgsp import LgspTrust, system_of
from gateway.credentials.auth import Authenticator, Caller
from gateway.credentials.registry import as_registry
from gateway.errors import AuthError

_TOKEN_PREFIX = "edt1."


def _plain(secret: Any) -> str:
    getter = getattr(secret, "get_secret_value", None)
    return getter() if callable(getter) else str(secret)


class HubCredentials:
    """Checks hub credentials against the calling systems (``gateway.credentials.registry``)."""

    def __init__(
        self,
        systems: Iterable[Any],
        directory: Any,
        authenticator: Authenticator | None,
        lgsp: LgspTrust | None = None,
    ) -> None:
        # Looked up in the one registry of calling systems (live), re-read at most each second.
        self._registry = as_registry(systems)
        self._cached: tuple[float, dict[str, Any]] = (-1.0, {})
        self._directory = directory
        self._authenticator = authenticator
        self.lgsp = lgsp

    @property
    def _systems(self) -> dict[str, Any]:
        at, systems = self._cached
        now = time.monotonic()
        if now - at >= 1.0:
            listed = getattr(self._registry, "records", lambda: [])()
            systems = {r.id: r for r in listed if getattr(r, "enabled", True)}
            self._cached = (now, systems)
        return systems

    def agencies_of(self, system_id: str) -> frozenset[str]:
        """Every agency code the system may act for."""
        system = self._systems.get(system_id)
        own = frozenset(system.agencies) if system is not None else frozenset()
        bound: frozenset[str] = frozenset()
        if self._directory is not None and hasattr(self._directory, "agencies_for_system"):
            bound = self._directory.agencies_for_system(system_id)
        return own | bound

    def _caller(self, system_id: str) -> Caller:
        system = self._systems[system_id]
        return Caller(system.id, frozenset(system.agencies), system.policy, "system")

    def authenticate(self, organ_id: str, token: str, assertion: str | None = None) -> Caller:
        """Return the caller acting for ``organ_id``; raise ``AuthError`` otherwise."""
        if self.lgsp is not None and assertion:
            system_id = system_of(self.lgsp, assertion)
            if system_id not in self._systems or organ_id not in self.agencies_of(system_id):
                raise AuthError(f"{organ_id or '-'} is not an agency of the APIM application")
            return self._caller(system_id)
        if self.lgsp is not None and self.lgsp.required:
            raise AuthError("an X-JWT-Assertion from the LGSP is required")
        if not organ_id or not token:
            raise AuthError("OrganId or Token is required")
        candidates = [s for s in self._systems if organ_id in self.agencies_of(s)]
        if token.startswith(_TOKEN_PREFIX) and self._authenticator is not None:
            caller = self._authenticator.check_token(token)
            if caller.system_id not in candidates:
                raise AuthError("the token was not issued for a system of this agency")
            return self._caller(caller.system_id)
        matched = None
        presented = token.encode("utf-8")
        # Compare with every candidate (and once with nothing) so timing tells nothing.
        for system_id in candidates or ["\x00none"]:
            secret = self._systems.get(system_id)
            # During a rotation overlap a system holds two valid secrets: either one is taken.
            valid = getattr(secret, "secrets", None) or (
                (_plain(secret.secret),) if secret is not None else ("\x00unknown",)
            )
            for expected in valid:
                if hmac.compare_digest(expected.encode("utf-8"), presented) and secret is not None:
                    matched = matched or system_id
        if matched is None:
            raise AuthError("unknown agency or wrong token")
        return self._caller(matched)
