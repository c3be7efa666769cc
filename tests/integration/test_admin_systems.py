"""The calling-system routes of the admin API over real HTTP on loopback (SQLite and a real
PostgreSQL): admin tokens only, the secret answered once, the registry refreshed at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from adapters.rest.admin import build_admin_app
from adapters.rest.admin_systems import setup_systems_routes
from gateway import appkeys
from gateway.config import load_settings
from gateway.credentials.live import SqlCallingSystems
from gateway.credentials.setup import open_systems_store
from gateway.store.database import create_engine, create_schema

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-token-1", "X-Admin-User": "lan"}


@pytest.fixture
async def client(store_url: str, tmp_path, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    settings = load_settings(
        None,
        store={"url": store_url, "blob_dir": tmp_path / "blobs"},
        admin={"tokens": ["admin-token-1"]},
        systems=[{"id": "qlvb-na", "secret": "system-secret", "agencies": ["000.00.00.H41"]}],
    )
    engine = create_engine(store_url)
    await create_schema(engine)
    store = await open_systems_store(settings, engine)
    await store.seed(settings.systems)
    registry = SqlCallingSystems(poll_interval=60)  # only the handler's refresh can help
    await registry.start(store)
    app = web.Application()
    app[appkeys.SETTINGS] = settings
    app[appkeys.ENGINE] = engine
    app[appkeys.SYSTEMS_STORE] = store
    app[appkeys.CALLING_SYSTEMS] = registry
    admin = build_admin_app()
    setup_systems_routes(admin)
    app.add_subapp("/admin/v1", admin)
    client = await aiohttp_client(app)
    yield client
    await registry.close()
    await engine.dispose()


async def test_systems_need_the_admin_token(client: TestClient) -> None:
    assert (await client.get("/admin/v1/systems")).status == 401
    refused = await client.get(
        "/admin/v1/systems", headers={"Authorization": "Bearer system-secret"}
    )
    assert (await refused.json())["error"]["code"] == "AUTH_FAILED"
    listed = await client.get("/admin/v1/systems", headers=ADMIN)
    body = await listed.json()
    assert [s["id"] for s in body["systems"]] == ["qlvb-na"]  # seeded from the settings
    assert "system-secret" not in await listed.text()


async def test_add_rotate_disable_enable(client: TestClient) -> None:
    registry = client.app[appkeys.CALLING_SYSTEMS]
    added = await client.post(
        "/admin/v1/systems",
        json={"id": "qlvb-hn", "agencies": ["000.00.00.H26"], "profile": "strict"},
        headers=ADMIN,
    )
    assert added.status == 201 and added.headers["Cache-Control"] == "no-store"
    body = await added.json()
    secret = body["secret"]
    assert body["system"]["profile"] == "strict" and len(secret) >= 40
    assert registry.get("qlvb-hn").secrets == (secret,)  # in force in this process at once
    shown = await client.get("/admin/v1/systems/qlvb-hn", headers=ADMIN)
    assert secret not in await shown.text()

    again = await client.post("/admin/v1/systems", json={"id": "qlvb-hn"}, headers=ADMIN)
    assert again.status == 409 and (await again.json())["error"]["code"] == "SYSTEM_EXISTS"
    bad = await client.post(
        "/admin/v1/systems", json={"id": "x", "profile": "lenient"}, headers=ADMIN
    )
    error = (await bad.json())["error"]
    assert bad.status == 400 and error["code"] == "SYSTEM_INVALID"
    assert error["message_vi"] and error["message_en"]

    rotated = await client.post(
        "/admin/v1/systems/qlvb-hn/rotate",
        json={"secret": "operator-chosen-secret-01", "overlap_days": 1},
        headers=ADMIN,
    )
    assert (await rotated.json())["system"]["valid_secrets"] == 2
    assert registry.get("qlvb-hn").secrets == ("operator-chosen-secret-01", secret)

    disabled = await client.post(
        "/admin/v1/systems/qlvb-hn/disable", json={"reason": "audit"}, headers=ADMIN
    )
    assert (await disabled.json())["system"]["status"] == "disabled"
    assert not registry.get("qlvb-hn").enabled
    await client.post("/admin/v1/systems/qlvb-hn/enable", headers=ADMIN)
    assert registry.get("qlvb-hn").enabled
    unknown = await client.post("/admin/v1/systems/nobody/disable", headers=ADMIN)
    assert unknown.status == 404 and (await unknown.json())["error"]["code"] == "SYSTEM_UNKNOWN"

    engine = client.app[appkeys.ENGINE]
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT event, actor FROM audit_log WHERE event LIKE 'system.%' ORDER BY seq")
            )
        ).all()
        stored = " ".join(
            str(r) for r in (await conn.execute(text("SELECT * FROM system_secrets"))).all()
        )
    assert [r[0] for r in rows] == [
        "system.seed",
        "system.add",
        "system.rotate",
        "system.disable",
        "system.enable",
    ]
    assert all(r[1].startswith("admin:") and r[1].endswith(":lan") for r in rows[1:])
    assert secret not in stored and "operator-chosen-secret-01" not in stored
