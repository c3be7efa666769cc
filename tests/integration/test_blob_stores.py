"""Blob stores that scale out (gateway/store/blob_stores.py): S3 against moto's server mode,
the database on PostgreSQL; each under the real app with real RabbitMQ."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiobotocore.session import get_session
from moto.server import ThreadedMotoServer

from gateway.credentials.auth import sign_request
from gateway.errors import NotFound
from gateway.store.blob_stores import DatabaseBlobStore, S3BlobStore, open_blob_store
from gateway.store.blobs import FileBlobStore
from gateway.store.database import create_engine, create_schema
from tests.integration.gateway_node import running_node, settings_for
from tests.services import free_port
from tests.world import SECRETS, document

pytestmark = pytest.mark.integration

BUCKET = "edoc-blobs"
WAIT_S = 60.0


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server on a free loopback port, with test credentials."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
async def bucket(s3_endpoint: str) -> AsyncIterator[str]:
    async with get_session().create_client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1"
    ) as client:
        await client.create_bucket(Bucket=BUCKET)
    yield BUCKET


async def list_keys(endpoint: str) -> list[str]:
    async with get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1"
    ) as client:
        answer = await client.list_objects_v2(Bucket=BUCKET)
    return [o["Key"] for o in answer.get("Contents", [])]


async def send_and_fetch(base: str, packet: bytes) -> bytes:
    """Send as G22, wait for H41's inbox to list it, fetch it as H41."""
    async with aiohttp.ClientSession() as session:
        headers = sign_request("SYS-G22", SECRETS["SYS-G22"], "POST", "/v1/messages", packet)
        async with session.post(base + "/v1/messages", data=packet, headers=headers) as r:
            assert r.status == 202, await r.text()
            message_id = (await r.json())["message_id"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while loop.time() < deadline:
            path = "/v1/inbox?limit=50"
            headers = sign_request("SYS-H41", SECRETS["SYS-H41"], "GET", path, b"")
            async with session.get(base + path, headers=headers) as r:
                if any(i["message_id"] == message_id for i in (await r.json())["items"]):
                    break
            await asyncio.sleep(0.1)
        path = f"/v1/messages/{message_id}"
        headers = sign_request("SYS-H41", SECRETS["SYS-H41"], "GET", path, b"")
        async with session.get(base + path, headers=headers) as r:
            assert r.status == 200, await r.text()
            return await r.read()


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_s3_store_puts_gets_and_refuses_unknown_keys(bucket: str, s3_endpoint: str) -> None:
    store = S3BlobStore(bucket, "edoc/", endpoint_url=s3_endpoint, region="us-east-1")
    try:
        key = await store.put(b"goi tin")
        assert await store.put(b"goi tin") == key
        assert await store.get(key) == b"goi tin"
        with pytest.raises(NotFound):
            await store.get("0" * 64)
    finally:
        await store.close()
    assert f"edoc/{key}" in await list_keys(s3_endpoint)


async def test_document_travels_with_its_bytes_in_s3(
    tmp_path: Path, amqp_url: str, bucket: str, s3_endpoint: str
) -> None:
    url = f"s3://{bucket}/node-a?endpoint_url={s3_endpoint}&region=us-east-1"
    store = {"url": f"sqlite:///{tmp_path / 'store.db'}", "blob_dir": str(tmp_path / "blobs")}
    settings = settings_for(tmp_path, amqp_url, store={**store, "blob_url": url})
    packet = document("S3-1")
    async with running_node(settings) as server:
        assert await send_and_fetch(str(server.make_url("")), packet) == packet
    keys = [k for k in await list_keys(s3_endpoint) if k.startswith("node-a/")]
    assert len(keys) == 1  # moto keeps one in-process backend: other tests' keys are there
    assert files_under(tmp_path / "blobs") == []


async def test_postgresql_store_keeps_blobs_in_the_database(
    tmp_path: Path, amqp_url: str, pg_url: str
) -> None:
    store = {"url": pg_url, "blob_dir": str(tmp_path / "blobs")}
    settings = settings_for(tmp_path, amqp_url, store=store)
    packet = document("PG-1")
    async with running_node(settings) as server:
        assert await send_and_fetch(str(server.make_url("")), packet) == packet
    assert files_under(tmp_path / "blobs") == []
    engine = create_engine(pg_url)
    try:
        blobs = open_blob_store(None, tmp_path / "blobs", pg_url, engine)
        assert isinstance(blobs, DatabaseBlobStore)
        # A blob an earlier version wrote to the directory is still read.
        old_key = await FileBlobStore(tmp_path / "old").put(b"cu")
        blobs.fallback = FileBlobStore(tmp_path / "old")
        assert await blobs.get(old_key) == b"cu"
        with pytest.raises(NotFound):
            await DatabaseBlobStore(engine).get("1" * 64)
    finally:
        await engine.dispose()


async def test_database_blob_store_also_serves_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_engine(url)
    try:
        await create_schema(engine)
        store = open_blob_store("database", tmp_path / "blobs", url, engine)
        key = await store.put(b"x" * 1000)
        assert await store.put(b"x" * 1000) == key
        assert await store.get(key) == b"x" * 1000
    finally:
        await engine.dispose()
    with sqlite3.connect(tmp_path / "store.db") as conn:
        assert conn.execute("SELECT count(*), sum(size) FROM blobs").fetchone() == (1, 1000)


async def test_s3_store_deletes_a_taken_down_blob(bucket: str, s3_endpoint: str) -> None:
    store = S3BlobStore(bucket, "edoc/", endpoint_url=s3_endpoint, region="us-east-1")
    try:
        key = await store.put(b"goi tin bi go")
        await store.delete(key)
        await store.delete(key)  # already gone: no error
        with pytest.raises(NotFound):
            await store.get(key)
    finally:
        await store.close()
    assert f"edoc/{key}" not in await list_keys(s3_endpoint)
