"""Refusals are audited where they are decided, once: the edge's door, the core's mark."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import edge
from adapters.credentials import set_caller
from gateway import appkeys
from gateway.audit import batch as audit_batch
from gateway.audit import chain as audit
from gateway.audit.refusals import Refusal, audit_refusal, is_audited, mark_audited
from gateway.errors import AuthError, GatewayError, PayloadTooLarge, SenderNotAllowed, StoreError
from gateway.store.database import create_engine, create_schema


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    await create_schema(engine)
    yield engine
    await engine.dispose()


async def _rejections(engine: AsyncEngine) -> list[audit.Entry]:
    await audit_batch.flush(engine)
    async with engine.connect() as conn:
        return [e for e in await audit.entries(conn) if e.event == "rejected"]


@pytest.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[TestClient]:
    door = edge.Door("rest")

    async def unauthenticated(request: web.Request) -> web.Response:
        raise AuthError("missing credentials")

    async def authenticated_then_refused(request: web.Request) -> web.Response:
        set_caller(request, "SYS-A")
        raise PayloadTooLarge("too big")

    async def core_refused(request: web.Request) -> web.Response:
        error = SenderNotAllowed("G22")
        mark_audited(error)  # what the core does once it wrote its own record
        raise error

    async def store_down(request: web.Request) -> web.Response:
        raise StoreError("database gone")

    async def bug(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail")

    async def fine(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(middlewares=[door.middleware()])
    app[appkeys.ENGINE] = engine
    app.router.add_get("/unauthenticated", unauthenticated)
    app.router.add_post("/refused", authenticated_then_refused)
    app.router.add_get("/core", core_refused)
    app.router.add_get("/store", store_down)
    app.router.add_get("/bug", bug)
    app.router.add_get("/fine", fine)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_a_door_refusal_writes_one_record(client: TestClient, engine: AsyncEngine) -> None:
    response = await client.get("/unauthenticated", headers={"X-Edoc-System": "qlvb-x"})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "AUTH_FAILED"
    [record] = await _rejections(engine)
    assert record.outcome == "AUTH_FAILED"
    assert record.actor is None  # unauthenticated: the claim is detail, not the actor
    assert record.detail is not None
    assert record.detail["claimed_system"] == "qlvb-x"
    assert record.detail["door"] == "rest" and record.detail["status"] == 401
    assert record.detail["remote"] == "127.0.0.1"
    assert record.detail["reason"] == "missing credentials"  # kept here, never answered
    assert "missing" not in await response.text()


async def test_an_authenticated_caller_is_the_actor(
    client: TestClient, engine: AsyncEngine
) -> None:
    assert (await client.post("/refused", data=b"x")).status == 413
    [record] = await _rejections(engine)
    assert (record.actor, record.outcome) == ("SYS-A", "PAYLOAD_TOO_LARGE")


async def test_core_audited_refusal_is_not_doubled(client: TestClient, engine: AsyncEngine) -> None:
    response = await client.get("/core")
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "SENDER_NOT_ALLOWED"
    assert await _rejections(engine) == []


async def test_failures_unmatched_routes_and_successes_are_not_refusals(
    client: TestClient, engine: AsyncEngine
) -> None:
    assert (await client.get("/store")).status == 503
    bug = await client.get("/bug")
    assert bug.status == 500 and "secret" not in await bug.text()
    assert (await client.get("/fine")).status == 200
    assert (await client.get("/no-such-route")).status == 404
    assert await _rejections(engine) == []


async def test_the_mark_travels_on_the_error(engine: AsyncEngine) -> None:
    error = AuthError("x")
    assert not is_audited(error)
    refusal = Refusal(door="admin", code=error.code, remote="10.0.0.1", claimed="SYS-B")
    assert await audit_refusal(engine, refusal, error=error) is True
    assert is_audited(error)
    assert await audit_refusal(engine, refusal, error=error) is False  # once, not twice
    [record] = await _rejections(engine)
    assert record.detail == {
        "door": "admin",
        "via": "admin",
        "claimed_system": "SYS-B",
        "remote": "10.0.0.1",
    }


async def test_no_store_means_no_record_and_no_crash() -> None:
    refusal = Refusal(door="ops", code="AUTH_FAILED", remote=None)
    assert await audit_refusal(None, refusal, error=GatewayError()) is False
