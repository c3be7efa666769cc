"""Refusals made at the edge are audited once; refusals the core audited are not doubled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import chain as audit
from gateway.refusal_audit import error_code, mark_audited, refusal_audit_middleware
from gateway.store.database import create_engine, create_schema


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    await create_schema(engine)
    yield engine
    await engine.dispose()


async def _rejections(engine: AsyncEngine) -> list[audit.Entry]:
    async with engine.connect() as conn:
        return [e for e in await audit.entries(conn) if e.event == "rejected"]


@pytest.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[TestClient]:
    async def unauthenticated(request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "AUTH_FAILED"}}, status=401)

    async def core_refused(request: web.Request) -> web.Response:
        mark_audited()
        return web.json_response({"error": {"code": "EDXML_SCHEMA"}}, status=400)

    async def too_large(request: web.Request) -> web.Response:
        raise web.HTTPRequestEntityTooLarge(max_size=1, actual_size=2)

    async def fine(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(middlewares=[refusal_audit_middleware(lambda request: engine)])
    app.router.add_get("/unauthenticated", unauthenticated)
    app.router.add_get("/core", core_refused)
    app.router.add_get("/large", too_large)
    app.router.add_get("/fine", fine)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_edge_refusal_writes_one_record(client: TestClient, engine: AsyncEngine) -> None:
    response = await client.get("/unauthenticated", headers={"X-Edoc-System": "qlvb-x"})
    assert response.status == 401
    [record] = await _rejections(engine)
    assert record.outcome == "AUTH_FAILED"
    assert record.actor is None  # unauthenticated: the claim is detail, not the actor
    assert record.detail is not None and record.detail["claimed_system"] == "qlvb-x"
    assert record.detail["status"] == 401


async def test_core_audited_refusal_is_not_doubled(client: TestClient, engine: AsyncEngine) -> None:
    assert (await client.get("/core")).status == 400
    assert await _rejections(engine) == []


async def test_raised_http_errors_and_successes(client: TestClient, engine: AsyncEngine) -> None:
    assert (await client.get("/large")).status == 413
    assert (await client.get("/fine")).status == 200
    assert (await client.get("/no-such-route")).status == 404
    assert [r.detail["status"] for r in await _rejections(engine) if r.detail] == [413]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"error": {"code": "AUTH_REPLAY", "message_en": "x"}}', "AUTH_REPLAY"),
        (b'{"status": "FAIL", "ErrorCode": "15", "ErrorDesc": "x"}', "15"),
        (
            b"<s:Fault><faultcode>s:Client</faultcode><faultstring>EDXML_SCHEMA: bad</faultstring>",
            "EDXML_SCHEMA",
        ),
        (b"", "UNKNOWN"),
        (b"not json", "UNKNOWN"),
    ],
)
def test_error_code_is_read_from_every_protocol(body: bytes, code: str) -> None:
    assert error_code(body) == code
