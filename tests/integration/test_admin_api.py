"""The admin API over real HTTP on loopback, on SQLite and on a real PostgreSQL: admin
tokens only, directory changes visible at once to the running directory, audit records."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from adapters.rest.admin import build_admin_app
from gateway import appkeys
from gateway.audit import chain as audit
from gateway.config import load_settings
from gateway.directory.live import SqlDirectory
from gateway.directory.sync import start_directory
from gateway.store.database import create_engine, create_schema
from tests import pki

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "directory.sample.csv"
ADMIN = {"Authorization": "Bearer admin-token-1", "X-Admin-User": "lan"}


@pytest.fixture
async def client(store_url: str, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    settings = load_settings(
        None,
        store={"url": store_url},
        directory={"file": SAMPLE},
        admin={"tokens": ["admin-token-1"]},
        systems=[{"id": "qlvb-na", "secret": "system-secret", "agencies": ["000.00.00.H41"]}],
    )
    engine = create_engine(store_url)
    await create_schema(engine)
    directory = SqlDirectory(poll_interval=0.2)
    await start_directory(directory, engine, settings)
    app = web.Application()
    app[appkeys.SETTINGS] = settings
    app[appkeys.ENGINE] = engine
    app[appkeys.DIRECTORY] = directory
    app.add_subapp("/admin/v1", build_admin_app())
    client = await aiohttp_client(app)
    yield client
    await directory.close()
    await engine.dispose()


async def test_admin_requires_admin_token(client: TestClient) -> None:
    assert (await client.get("/admin/v1/agencies")).status == 401
    system = {"Authorization": "Bearer system-secret"}
    response = await client.get("/admin/v1/agencies", headers=system)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "AUTH_FAILED"
    ok = await client.get("/admin/v1/agencies?q=nghệ an", headers=ADMIN)
    assert ok.status == 200
    codes = [a["code"] for a in (await ok.json())["agencies"]]
    assert "000.00.00.H41" in codes


async def test_lifecycle_over_http_takes_effect_in_running_directory(
    client: TestClient,
) -> None:
    directory = client.app[appkeys.DIRECTORY]
    resolved = await client.get("/admin/v1/resolve/H41.02", headers=ADMIN)
    assert (await resolved.json())["agency"]["code"] == "000.02.41.H41"

    merged = await client.post(
        "/admin/v1/agencies/000.00.00.H01/merge",
        headers=ADMIN,
        json={"into": "000.00.00.H02", "effective_at": "2025-07-01", "reason": "sáp nhập"},
    )
    assert merged.status == 200 and (await merged.json())["status"] == "merged"
    assert directory.resolve("000.00.00.H01").via == ("000.00.00.H01",)

    suspended = await client.post(
        "/admin/v1/agencies/000.00.00.H14/suspend", headers=ADMIN, json={}
    )
    assert (await suspended.json())["status"] == "suspended"
    refused = await client.get("/admin/v1/resolve/000.00.00.H14", headers=ADMIN)
    assert refused.status == 422
    assert (await refused.json())["error"]["code"] == "AGENCY_INACTIVE"

    retired = await client.post(
        "/admin/v1/agencies/000.00.00.H03/retire",
        headers=ADMIN,
        json={"successors": ["000.00.00.H02"]},
    )
    assert retired.status == 200
    gone = await client.get("/admin/v1/resolve/000.00.00.H03", headers=ADMIN)
    body = await gone.json()
    assert body["error"]["code"] == "AGENCY_DISSOLVED"
    assert "000.00.00.H02" in body["error"]["message_vi"]

    no_action = await client.post(
        "/admin/v1/agencies/000.00.00.H41/explode", headers=ADMIN, json={}
    )
    assert no_action.status == 404
    error = (await no_action.json())["error"]
    assert error["code"] == "NOT_FOUND" and error["message_vi"] and error["message_en"]

    unknown = await client.post("/admin/v1/agencies/000.00.00.X99/suspend", headers=ADMIN, json={})
    assert unknown.status == 422
    assert (await unknown.json())["error"]["code"] == "CODE_UNKNOWN"

    endpoint = await client.post(
        "/admin/v1/agencies/000.00.00.H41/endpoint",
        headers=ADMIN,
        json={"kind": "push", "url": "https://qlvb.nghean.example/in"},
    )
    assert endpoint.status == 200
    assert directory.resolve("000.00.00.H41").agency.endpoint.kind == "push"
    bound = await client.post(
        "/admin/v1/agencies/000.00.00.H41/systems", headers=ADMIN, json={"system_id": "qlvb-na"}
    )
    assert (await bound.json())["systems"] == ["qlvb-na"]
    assert directory.agencies_for_system("qlvb-na") == frozenset({"000.00.00.H41"})

    changes = await client.get("/admin/v1/changes?code=000.00.00.H01", headers=ADMIN)
    record = (await changes.json())["changes"][0]
    assert record["actor"].startswith("admin:") and record["actor"].endswith(":lan")
    assert record["before"]["status"] == "active" and record["after"]["status"] == "merged"
    async with client.app[appkeys.ENGINE].connect() as conn:
        assert await audit.verify_chain(conn) == []


async def test_import_export_and_put_over_http(client: TestClient) -> None:
    axis = [
        {
            "code": "000.00.00.H41",
            "code102": "H41",
            "name": "UBND Tỉnh Nghệ An",
            "pid": None,
            "mail": "ubnd@nghean.gov.vn",
        },
        {
            "code": "000.50.41.H41",
            "oldCode": "H41.50",
            "name": "Sở Tư pháp",
            "pid": "000.00.00.H41",
            "mail": None,
        },
    ]
    dry = await client.post(
        "/admin/v1/import?format=axis&retire=false&dry_run=true",
        headers=ADMIN,
        data=json.dumps(axis).encode(),
    )
    assert (await dry.json())["added"] == 1
    assert client.app[appkeys.DIRECTORY].get("H41.50") is None
    done = await client.post(
        "/admin/v1/import?format=axis&retire=false", headers=ADMIN, data=json.dumps(axis).encode()
    )
    summary = await done.json()
    assert summary["added"] == 1 and summary["changed"] == 1
    assert client.app[appkeys.DIRECTORY].resolve("H41.50").agency.code == "000.50.41.H41"

    put = await client.put(
        "/admin/v1/agencies/000.60.41.H41",
        headers=ADMIN,
        json={"name": "Sở Y tế", "parent_code": "000.00.00.H41"},
    )
    assert put.status == 201
    bad = await client.put(
        "/admin/v1/agencies/000.61.41.H41", headers=ADMIN, json={"status": "asleep", "name": "x"}
    )
    assert bad.status == 409

    exported = await client.get("/admin/v1/export?format=csv", headers=ADMIN)
    text = await exported.text()
    assert text.startswith("code,old_code,name") and "000.60.41.H41,,Sở Y tế" in text

    truncated = await client.post("/admin/v1/import?format=json", headers=ADMIN, data=b"[]")
    assert truncated.status == 200  # an empty full import retires everything: allowed here
    assert (await truncated.json())["retired"] > 90

    cert = pki.make_leaf(pki.make_ca("CA"), "Văn thư", "ec").cert_pem.decode()
    added = await client.post(
        "/admin/v1/agencies/000.00.00.G22/certificates", headers=ADMIN, json={"pem": cert}
    )
    assert added.status == 201
    shown = await client.get("/admin/v1/agencies/000.00.00.G22", headers=ADMIN)
    details = (await shown.json())["certificate_details"]
    assert details[0]["fingerprint"] == (await added.json())["fingerprint"]


async def test_inactive_listing_over_http(client: TestClient) -> None:
    listed = await client.get("/admin/v1/inactive?days=180", headers=ADMIN)
    assert (await listed.json())["count"] == 0  # all created just now
    bad = await client.get("/admin/v1/inactive?days=soon", headers=ADMIN)
    assert bad.status == 400
    assert (await bad.json())["error"]["code"] == "BAD_REQUEST"
