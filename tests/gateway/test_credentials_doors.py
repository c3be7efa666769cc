"""Every door looks systems up through the one registry: overlap, disabling, live changes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from adapters.vxp.accounts import SystemAccounts
from adapters.vxp.signing import VIETNAM, ReplayGuard, sign_headers, verify_request
from gateway.auth import Authenticator, sign_request
from gateway.config import LimitsSettings
from gateway.credentials import SystemRecord
from gateway.errors import AuthError, AuthExpired, AuthReplay

NOW = datetime(2026, 3, 5, 9, 0, tzinfo=VIETNAM)


class Registry:
    """A registry whose records a test changes, as the store-backed one would on refresh."""

    def __init__(self, *records: SystemRecord) -> None:
        self.records = {r.id: r for r in records}

    def get(self, system_id: str) -> SystemRecord | None:
        return self.records.get(system_id)


def rotating() -> Registry:
    return Registry(SystemRecord("QLVB", agencies=("A",), secrets=("new-secret", "old-secret")))


def vxp_verify(accounts: SystemAccounts, secret: str, guard: ReplayGuard | None = None):
    headers = sign_headers({"messagetype": "edoc"}, system_id="QLVB", secret=secret, now=NOW)
    return accounts.verify_any(
        lambda secret_for: verify_request(headers, secret_for, now=NOW, replay_guard=guard)
    )


def test_vxp_accepts_either_secret_during_the_overlap() -> None:
    accounts = SystemAccounts(rotating())
    assert vxp_verify(accounts, "new-secret").system_id == "QLVB"
    assert vxp_verify(accounts, "old-secret").system_id == "QLVB"
    with pytest.raises(AuthError):
        vxp_verify(accounts, "wrong-secret")


def test_vxp_replay_and_expiry_are_not_retried_with_the_old_secret() -> None:
    accounts = SystemAccounts(rotating())
    guard = ReplayGuard(window=timedelta(minutes=10))
    headers = sign_headers({"a": "b"}, system_id="QLVB", secret="old-secret", now=NOW)

    def verify(secret_for):
        return verify_request(headers, secret_for, now=NOW, replay_guard=guard)

    accounts.verify_any(verify)
    with pytest.raises(AuthReplay):
        accounts.verify_any(verify)
    late = NOW + timedelta(hours=1)
    with pytest.raises(AuthExpired):
        accounts.verify_any(lambda s: verify_request(headers, s, now=late))


def test_soap_secret_check_and_live_disable() -> None:
    registry = rotating()
    accounts = SystemAccounts(registry)
    assert accounts.check_secret("QLVB", "old-secret").agencies == frozenset({"A"})
    registry.records["QLVB"] = SystemRecord("QLVB", secrets=("new-secret",))  # overlap over
    with pytest.raises(AuthError):
        accounts.check_secret("QLVB", "old-secret")
    registry.records["QLVB"] = SystemRecord("QLVB", secrets=("new-secret",), enabled=False)
    with pytest.raises(AuthError):
        accounts.check_secret("QLVB", "new-secret")
    with pytest.raises(AuthError):
        accounts.caller("QLVB")
    assert accounts.secret_for("QLVB") is None


def test_native_api_signatures_and_tokens_follow_the_registry() -> None:
    registry = rotating()
    auth = Authenticator(registry, LimitsSettings())

    def call(secret: str):
        headers = sign_request("QLVB", secret, "GET", "/v1/inbox")
        return auth.authenticate("GET", "/v1/inbox", headers, b"")

    assert call("old-secret").system_id == "QLVB"
    assert call("new-secret").agencies == frozenset({"A"})
    token, _ = auth.issue_token(call("new-secret"))
    registry.records["QLVB"] = SystemRecord("QLVB", agencies=("A",), secrets=("new-secret",))
    assert auth.check_token(token).system_id == "QLVB"  # issued with the new secret
    with pytest.raises(AuthError):
        call("old-secret")
    registry.records["QLVB"] = SystemRecord("QLVB", secrets=("newest-secret", "new-secret"))
    assert auth.check_token(token).system_id == "QLVB"  # still valid during the next overlap
    registry.records["QLVB"] = SystemRecord("QLVB", secrets=("newest-secret",))
    with pytest.raises(AuthError):
        auth.check_token(token)  # rotation revokes tokens of the old secret at its end
    registry.records["QLVB"] = SystemRecord("QLVB", secrets=("newest-secret",), enabled=False)
    with pytest.raises(AuthError):
        call("newest-secret")
    registry.records.clear()
    with pytest.raises(AuthError):
        call("newest-secret")
