"""Who is calling the VXP door, and whether the request is fresh enough for its profile.

Each decision is a function of one :class:`SystemRecord` (id, secrets, agencies, profile,
allowed networks), so where the records come from (configuration today, the store with
rotation tomorrow) does not matter here. Profiles (``SystemSettings.profile``):

- ``strict``: the timestamp, read as Vietnam time, within ±skew; a repeated signature is
  refused (replay cache). For the native API and new integrations.
- ``sdk`` (default): what the axis's Java SDK survives. The SDK stamps a service object once,
  at construction, in the JVM's zone, so the timestamp must parse and must not lie in the
  future beyond the skew under at least one reading (Vietnam time or UTC); any age is
  accepted and a repeated request is served. That is safe only because every VXP operation
  is idempotent under replay (docs/security.md).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.vxp.signing import (
    READINGS,
    SIGN_HEADER,
    ReplayGuard,
    SignedRequest,
    check_strict_freshness,
    parse_timestamp,
    verify_signature,
)
from gateway.credentials.auth import Caller
from gateway.errors import AuthError, AuthExpired, NetworkNotAllowed

PROFILES = ("strict", "sdk")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class SystemRecord:
    """One calling system as the VXP door needs it; ``secrets`` holds every valid secret."""

    id: str
    secrets: tuple[str, ...]
    agencies: frozenset[str]
    policy: str = "legacy"
    profile: str = "sdk"
    allowed_networks: tuple[Network, ...] = ()

    @property
    def caller(self) -> Caller:
        """The core's view of this system."""
        return Caller(self.id, self.agencies, self.policy)


def parse_networks(values: tuple[str, ...] | list[str]) -> tuple[Network, ...]:
    """Parse CIDR texts (``10.0.0.0/8``, ``2001:db8::/32``, a bare address) strictly."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


def check_network(system: SystemRecord, remote: str | None) -> None:
    """Raise :class:`NetworkNotAllowed` unless ``remote`` lies in the system's networks
    (no networks configured: any address)."""
    if not system.allowed_networks:
        return
    try:
        address = ipaddress.ip_address((remote or "").split("%")[0])
    except ValueError:
        raise NetworkNotAllowed(f"unparseable peer address {remote!r}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not any(address in network for network in system.allowed_networks):
        raise NetworkNotAllowed(f"{system.id} may not call from {address}")


def check_sdk_freshness(signed: SignedRequest, *, now: datetime, skew: timedelta) -> None:
    """The ``sdk`` profile: refuse only a timestamp in the future beyond ``skew`` under every
    reading (a Vietnam-time JVM and a UTC JVM both pass; any age passes)."""
    text = signed.params["timestamp"]
    if all(parse_timestamp(text, zone) - now > skew for zone in READINGS):
        raise AuthExpired(f"timestamp {text} lies more than {skew} in the future")


def check_freshness(
    system: SystemRecord,
    signed: SignedRequest,
    *,
    now: datetime,
    skew: timedelta,
    replay_guard: ReplayGuard | None,
) -> None:
    """Apply the system's profile to a verified request (raises ``AuthExpired``/``AuthReplay``)."""
    if system.profile == "strict":
        check_strict_freshness(signed, now=now, skew=skew, replay_guard=replay_guard)
    else:
        check_sdk_freshness(signed, now=now, skew=skew)


def authenticate(
    headers: Mapping[str, str],
    remote: str | None,
    lookup: Callable[[str], SystemRecord | None],
    *,
    now: datetime,
    skew: timedelta,
    replay_guard: ReplayGuard | None,
) -> tuple[SignedRequest, SystemRecord]:
    """Verify the signature, the caller's network and the freshness its profile asks for."""

    def secrets_for(system_id: str) -> tuple[str, ...]:
        system = lookup(system_id)
        return system.secrets if system is not None else ()

    signed = verify_signature(headers, secrets_for)
    system = lookup(signed.system_id)
    if system is None:  # removed between the two look-ups
        raise AuthError("unknown system")
    check_network(system, remote)
    check_freshness(system, signed, now=now, skew=skew, replay_guard=replay_guard)
    return signed, system


def claimed_system(headers: Mapping[str, str]) -> str | None:
    """The system id a request claims (signed JSON first, then the plain header), for audit
    records of refusals; never trusted for anything else."""
    raw = headers.get(SIGN_HEADER)
    if raw:
        try:
            value = json.loads(raw).get("XroadVnpt-systemid")
        except (ValueError, AttributeError):
            value = None
        if isinstance(value, str) and value:
            return value[:128]
    plain = headers.get("XroadVnpt-systemid")
    return plain[:128] if plain else None
