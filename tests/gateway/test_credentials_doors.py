"""Every door looks systems up through the one registry: overlap, disabling, live changes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from adapters.soap.credentials import HubCredentials
from adapters.vxp.accounts import SystemAccounts
from adapters.vxp.auth import authenticate
from adapters.vxp.signing import VIETNAM, ReplayGuard, sign_headers
from gateway.config import LimitsSettings
from gateway.credentials.auth import Authenticator, sign_request
from gateway.credentials.registry import SystemRecord
from gateway.errors import AuthError, AuthExpired, AuthReplay

NOW = datetime(2026, 3, 5, 9, 0, tzinfo=VIETNAM)


class Registry:
    """A registry whose records a test changes, as the store-backed one would on refresh."""

    def __init__(self, *records: SystemRecord) -> None:
        self.by_id = {r.id: r for r in records}

    def get(self, system_id: str) -> SystemRecord | None:
        return self.by_id.get(system_id)

    def records(self) -> list[SystemRecord]:
        return list(self.by_id.values())


def rotating(profile: str = "sdk") -> Registry:
    return Registry(
        SystemRecord(
            "QLVB",
            agencies=("A",),
            profile=profile,
            allowed_networks=("10.0.0.0/8",),
            secrets=("new-secret", "old-secret"),
        )
    )


def vxp(accounts: SystemAccounts, secret: str, *, at=NOW, guard=None, headers=None):
    headers = headers or sign_headers({"a": "b"}, system_id="QLVB", secret=secret, now=NOW)
    skew = timedelta(minutes=5)
    return authenticate(headers, "10.1.2.3", accounts.record, now=at, skew=skew, replay_guard=guard)


def test_vxp_accepts_either_secret_during_the_overlap() -> None:
    accounts = SystemAccounts(rotating())
    signed, record = vxp(accounts, "new-secret")
    assert signed.system_id == "QLVB" and record.caller.agencies == frozenset({"A"})
    assert vxp(accounts, "old-secret")[0].system_id == "QLVB"
    assert record.allowed_networks and record.profile == "sdk"  # carried from the registry
    with pytest.raises(AuthError):
        vxp(accounts, "wrong-secret")


def test_vxp_strict_replay_and_expiry_with_the_old_secret() -> None:
    accounts = SystemAccounts(rotating("strict"))
    guard = ReplayGuard(window=timedelta(minutes=10))
    headers = sign_headers({"a": "b"}, system_id="QLVB", secret="old-secret", now=NOW)
    vxp(accounts, "", guard=guard, headers=headers)
    with pytest.raises(AuthReplay):
        vxp(accounts, "", guard=guard, headers=headers)
    with pytest.raises(AuthExpired):
        vxp(accounts, "", at=NOW + timedelta(hours=1), headers=headers)


def test_soap_secret_check_and_live_disable() -> None:
    registry = rotating()
    accounts = SystemAccounts(registry)
    assert accounts.check_secret("QLVB", "old-secret").agencies == frozenset({"A"})
    registry.by_id["QLVB"] = SystemRecord("QLVB", secrets=("new-secret",))  # overlap over
    with pytest.raises(AuthError):
        accounts.check_secret("QLVB", "old-secret")
    registry.by_id["QLVB"] = SystemRecord("QLVB", secrets=("new-secret",), enabled=False)
    with pytest.raises(AuthError):
        accounts.check_secret("QLVB", "new-secret")
    with pytest.raises(AuthError):
        accounts.caller("QLVB")
    assert accounts.secret_for("QLVB") is None
    assert accounts.record("QLVB") is None


def test_hub_credentials_follow_the_registry() -> None:
    registry = rotating()
    hub = HubCredentials(registry, None, None)
    hub._cached = (-1.0, {})
    assert hub.authenticate("A", "old-secret").system_id == "QLVB"
    assert hub.authenticate("A", "new-secret").system_id == "QLVB"
    registry.by_id["QLVB"] = SystemRecord("QLVB", agencies=("A",), enabled=False)
    hub._cached = (-1.0, {})  # as after the 1 s re-read
    with pytest.raises(AuthError):
        hub.authenticate("A", "new-secret")


def test_native_api_signatures_and_tokens_follow_the_registry() -> None:
    registry = rotating()
    auth = Authenticator(registry, LimitsSettings())

    def call(secret: str):
        headers = sign_request("QLVB", secret, "GET", "/v1/inbox")
        return auth.authenticate("GET", "/v1/inbox", headers, b"")

    assert call("old-secret").system_id == "QLVB"
    assert call("new-secret").agencies == frozenset({"A"})
    token, _ = auth.issue_token(call("new-secret"))
    registry.by_id["QLVB"] = SystemRecord("QLVB", agencies=("A",), secrets=("new-secret",))
    assert auth.check_token(token).system_id == "QLVB"  # issued with the new secret
    with pytest.raises(AuthError):
        call("old-secret")
    registry.by_id["QLVB"] = SystemRecord("QLVB", secrets=("newest-secret", "new-secret"))
    assert auth.check_token(token).system_id == "QLVB"  # still valid during the next overlap
    registry.by_id["QLVB"] = SystemRecord("QLVB", secrets=("newest-secret",))
    with pytest.raises(AuthError):
        auth.check_token(token)  # rotation revokes tokens of the old secret at its end
    registry.by_id["QLVB"] = SystemRecord("QLVB", secrets=("newest-secret",), enabled=False)
    with pytest.raises(AuthError):
        call("newest-secret")
    registry.by_id.clear()
    with pytest.raises(AuthError):
        call("newest-secret")
