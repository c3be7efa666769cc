"""Tests of gateway.credentials.auth: request signatures, clock skew, replays, bearer tokens."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from gateway.config import AdminSettings, LimitsSettings, SystemSettings
from gateway.credentials.auth import Authenticator, Caller, sign_request
from gateway.errors import AuthError, AuthExpired, AuthReplay

NOW = 1_780_000_000
SYSTEMS = [
    SystemSettings(id="qlvb.a", secret=SecretStr("secret-a"), agencies=("000.00.00.G22",)),
    SystemSettings(id="qlvb-b", secret=SecretStr("secret-b"), agencies=("000.00.00.H41",)),
]


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(clock: Clock) -> Authenticator:
    limits = LimitsSettings(clock_skew_s=300, replay_window_s=600, token_ttl_s=3600)
    admin = AdminSettings(tokens=(SecretStr("admin-token"),))
    return Authenticator(SYSTEMS, limits, admin, clock=clock)


def signed(
    body: bytes = b"<x/>", path: str = "/v1/messages", nonce: str | None = None
) -> dict[str, str]:
    return sign_request("qlvb.a", "secret-a", "POST", path, body, timestamp=NOW, nonce=nonce)


def test_signed_request_gives_the_bound_caller(auth: Authenticator) -> None:
    caller = auth.authenticate("POST", "/v1/messages", signed(), b"<x/>")
    assert caller == Caller("qlvb.a", frozenset({"000.00.00.G22"}), "legacy", "system")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/messages", b"<x/>"),
        ("POST", "/v1/inbox", b"<x/>"),
        ("POST", "/v1/messages", b"<y/>"),
    ],
)
def test_any_change_breaks_the_signature(
    auth: Authenticator, method: str, path: str, body: bytes
) -> None:
    with pytest.raises(AuthError) as info:
        auth.authenticate(method, path, signed(), body)
    assert info.value.code == "AUTH_FAILED"


def test_wrong_secret_and_unknown_system(auth: Authenticator) -> None:
    bad = sign_request("qlvb.a", "guess", "POST", "/v1/messages", b"", timestamp=NOW)
    with pytest.raises(AuthError):
        auth.authenticate("POST", "/v1/messages", bad, b"")
    ghost = sign_request("ghost", "x", "POST", "/v1/messages", b"", timestamp=NOW)
    with pytest.raises(AuthError):
        auth.authenticate("POST", "/v1/messages", ghost, b"")
    with pytest.raises(AuthError):
        auth.authenticate("POST", "/v1/messages", {}, b"")


def test_timestamp_outside_skew(auth: Authenticator, clock: Clock) -> None:
    headers = signed()
    clock.now = NOW + 301
    with pytest.raises(AuthExpired) as info:
        auth.authenticate("POST", "/v1/messages", headers, b"<x/>")
    assert info.value.http_status == 401


def test_replay_is_refused(auth: Authenticator) -> None:
    headers = signed()
    auth.authenticate("POST", "/v1/messages", headers, b"<x/>")
    with pytest.raises(AuthReplay) as info:
        auth.authenticate("POST", "/v1/messages", headers, b"<x/>")
    assert info.value.code == "AUTH_REPLAY"
    # A fresh nonce is a new request.
    auth.authenticate("POST", "/v1/messages", signed(nonce="other"), b"<x/>")


def test_token_round_trip_and_expiry(auth: Authenticator, clock: Clock) -> None:
    caller = auth.authenticate("POST", "/v1/tokens", signed(b"", "/v1/tokens"), b"")
    token, expires = auth.issue_token(caller)
    assert "secret-a" not in token
    assert expires == NOW + 3600
    bearer = {"Authorization": f"Bearer {token}"}
    assert auth.authenticate("GET", "/v1/inbox", bearer, b"") == caller
    clock.now = NOW + 3601
    with pytest.raises(AuthExpired):
        auth.authenticate("GET", "/v1/inbox", bearer, b"")


def test_tampered_token_is_refused(auth: Authenticator) -> None:
    token, _ = auth.issue_token(
        auth.authenticate("POST", "/v1/tokens", signed(b"", "/v1/tokens"), b"")
    )
    forged = token.replace("qlvb.a", "qlvb-b")
    for bad in (forged, token[:-1] + ("0" if token[-1] != "0" else "1"), "garbage"):
        with pytest.raises(AuthError):
            auth.check_token(bad)


def test_admin_token(auth: Authenticator) -> None:
    caller = auth.authenticate("GET", "/v1/inbox", {"Authorization": "Bearer admin-token"}, b"")
    assert caller.role == "admin" and caller.agencies == frozenset()


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Edoc-Timestamp", f"+{NOW}"),
        ("X-Edoc-Timestamp", "1_780_000_000"),
        ("X-Edoc-Timestamp", "１７８００００００００"),
        ("X-Edoc-Nonce", ""),
        ("X-Edoc-Nonce", "nonce-ếđ"),
        ("X-Edoc-Signature", "ế" * 64),
        ("X-Edoc-System", "qlvb-ế"),
    ],
)
def test_only_the_documented_header_forms_are_accepted(
    auth: Authenticator, header: str, value: str
) -> None:
    headers = {**signed(), header: value}
    with pytest.raises(AuthError):  # a clean refusal, never TypeError or ValueError
        auth.authenticate("POST", "/v1/messages", headers, b"<x/>")


def test_non_ascii_bearer_token_is_a_clean_refusal(auth: Authenticator) -> None:
    with pytest.raises(AuthError):
        auth.authenticate("GET", "/v1/inbox", {"Authorization": "Bearer tökén"}, b"")


def test_headers_are_judged_before_any_body_is_read(auth: Authenticator, clock: Clock) -> None:
    """What the edge relies on: everything but the MAC is decided from the headers alone."""
    pending = auth.check_headers("POST", "/v1/messages", signed(nonce="n1"))
    assert not isinstance(pending, Caller) and pending.system.id == "qlvb.a"
    assert auth.finish(pending, b"<x/>").system_id == "qlvb.a"
    with pytest.raises(AuthReplay):  # a used signature is refused before its body is read
        auth.check_headers("POST", "/v1/messages", signed(nonce="n1"))
    unknown = sign_request("nobody", "guess", "POST", "/v1/messages", b"", timestamp=NOW)
    with pytest.raises(AuthError):
        auth.check_headers("POST", "/v1/messages", unknown)
    clock.now += 3600
    with pytest.raises(AuthExpired):  # stale: refused without a body, whatever the MAC
        auth.check_headers("POST", "/v1/messages", signed(nonce="n2"))


def test_a_wrong_mac_is_refused_after_the_body_and_not_remembered(auth: Authenticator) -> None:
    headers = signed(nonce="n3")
    pending = auth.check_headers("POST", "/v1/messages", headers)
    assert not isinstance(pending, Caller)
    with pytest.raises(AuthError):
        auth.finish(pending, b"<other/>")
    again = auth.check_headers("POST", "/v1/messages", headers)  # not taken for a replay
    assert not isinstance(again, Caller)
    assert auth.finish(again, b"<x/>").system_id == "qlvb.a"


def test_an_admin_token_is_named_like_every_admin(auth: Authenticator) -> None:
    admin = {"Authorization": "Bearer admin-token", "X-Admin-User": "lan:x\n"}
    caller = auth.check_headers("GET", "/v1/inbox", admin)
    assert isinstance(caller, Caller) and caller.role == "admin"
    assert caller.system_id.startswith("admin:") and caller.system_id.endswith(":lanx")
