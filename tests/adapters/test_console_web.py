"""Console sessions over HTTP (no browser): cookie flags, redirects, idle timeout, login
rate limit and lock, CSRF on the login form; each refusal audited once."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from adapters.console.app import build_console_app
from adapters.console.session import SessionStore
from gateway import appkeys
from gateway.audit import chain as audit
from gateway.credentials import operators
from gateway.directory.resolver import InMemoryDirectory
from gateway.ops.health import HealthChecker
from gateway.store.database import create_engine, create_schema
from tests.gateway.test_directory_search import catalogue

PASSWORD = "mat-khau-kiem-thu-2026"
ENGINE_KEY = web.AppKey("test_engine", object)


@pytest.fixture
def directory() -> InMemoryDirectory:
    return InMemoryDirectory()


@pytest.fixture
async def client(tmp_path: Path, directory: InMemoryDirectory) -> AsyncIterator[TestClient]:
    engine = create_engine(f"sqlite:///{tmp_path / 'console.db'}")
    await create_schema(engine)
    await operators.add(engine, "lan", "auditor", PASSWORD, actor="test")
    root = web.Application()  # no response-parsing middleware: the console audits itself
    root[appkeys.ENGINE] = engine
    root[ENGINE_KEY] = engine
    root[appkeys.DIRECTORY] = directory
    console = build_console_app(checker=HealthChecker([]), directory=directory, login_limit=8)
    root.add_subapp("/console", console)
    async with TestClient(TestServer(root)) as test_client:
        yield test_client
    await engine.dispose()


async def _login_token(client: TestClient) -> str:
    page = await client.get("/console/login")
    match = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert match
    return match.group(1)


async def _login(client: TestClient, password: str, **headers: str) -> web.Response:
    token = await _login_token(client)
    return await client.post(  # type: ignore[return-value]
        "/console/login",
        data={"csrf": token, "name": "lan", "password": password, "next": "/console/audit"},
        allow_redirects=False,
        headers=headers,
    )


async def _events(client: TestClient, event: str) -> list[audit.Entry]:
    async with client.app[ENGINE_KEY].connect() as conn:  # type: ignore[index]
        return [e for e in await audit.entries(conn) if e.event == event]


async def test_pages_need_a_session_and_the_cookie_is_strict(client: TestClient) -> None:
    anonymous = await client.get("/console/documents?q=x", allow_redirects=False)
    assert anonymous.status == 303
    location = URL(anonymous.headers["Location"])
    assert location.path == "/console/login" and location.query["next"] == "/console/documents?q=x"
    refused = await client.post("/console/parked/replay", data={"id": "all"})
    assert refused.status == 401 and "CONSOLE_LOGIN_REQUIRED" in await refused.text()
    ok = await _login(client, PASSWORD, **{"X-Forwarded-Proto": "https"})
    assert ok.status == 303 and ok.headers["Location"] == "/console/audit"
    cookie = next(v for v in ok.headers.getall("Set-Cookie") if v.startswith("edoc_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
    assert "Path=/console" in cookie
    page = await client.get("/console/audit")
    assert page.status == 200 and "Content-Security-Policy" in page.headers


async def test_plain_http_cookie_is_not_secure(client: TestClient) -> None:
    ok = await _login(client, PASSWORD)
    cookie = next(v for v in ok.headers.getall("Set-Cookie") if v.startswith("edoc_console="))
    assert "Secure" not in cookie


async def test_login_form_without_its_token_is_refused_and_audited(client: TestClient) -> None:
    response = await client.post("/console/login", data={"name": "lan", "password": PASSWORD})
    assert response.status == 403 and "CONSOLE_CSRF" in await response.text()
    refused = await _events(client, "console.refused")
    assert [e.outcome for e in refused] == ["CONSOLE_CSRF"]
    assert await _events(client, "rejected") == []  # one record, not two


async def test_failed_logins_lock_then_rate_limit(client: TestClient) -> None:
    for _ in range(operators.LOCK_AFTER - 1):
        wrong = await _login(client, "not-the-password")
        assert wrong.status == 401 and "CONSOLE_LOGIN_FAILED" in await wrong.text()
    locked = await _login(client, "not-the-password")
    assert locked.status == 423 and "CONSOLE_ACCOUNT_LOCKED" in await locked.text()
    still = await _login(client, PASSWORD)
    assert still.status == 423
    limited = None
    for _ in range(3):
        limited = await _login(client, PASSWORD)
    assert limited is not None and limited.status == 429
    assert "CONSOLE_RATE_LIMITED" in await limited.text()
    outcomes = [e.outcome for e in await _events(client, "console.login")]
    assert outcomes.count("CONSOLE_LOGIN_FAILED") == operators.LOCK_AFTER - 1
    assert outcomes.count("CONSOLE_ACCOUNT_LOCKED") == 4  # the lock, then 3 tries while locked
    assert [e.outcome for e in await _events(client, "console.refused")] == ["CONSOLE_RATE_LIMITED"]
    assert await _events(client, "rejected") == []


def test_sessions_end_after_the_idle_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("adapters.console.session.time.monotonic", lambda: now[0])
    store = SessionStore(idle_s=60, max_age_s=3600)
    token, session = store.open("lan", "auditor")
    now[0] += 59
    assert store.get(token) is session  # each request touches it
    now[0] += 59
    assert store.get(token) is session
    now[0] += 61
    assert store.get(token) is None
    token, _ = store.open("lan", "auditor")
    for _ in range(70):  # busy but past the absolute lifetime
        now[0] += 55
        store.get(token)
    assert store.get(token) is None
    assert not store.get("made-up")


@pytest.mark.parametrize("directory", [InMemoryDirectory(catalogue(125_000))])
async def test_directory_page_answers_in_under_200_ms_for_125000_agencies(
    client: TestClient, directory: InMemoryDirectory
) -> None:
    ok = await _login(client, PASSWORD)
    assert ok.status == 303
    first = await client.get("/console/directory?q=son+la")  # builds the index once
    assert first.status == 200
    timings = []
    for query in ("huế", "000.12", "OLD99999", "Phòng Văn thư số 12345", "không có"):
        started = time.perf_counter()
        page = await client.get("/console/directory", params={"q": query})
        body = await page.text()
        timings.append((time.perf_counter() - started) * 1000)
        assert page.status == 200 and 'id="agencies"' in body
    print("directory page ms:", [round(t, 1) for t in timings])
    assert max(timings) < 200
