"""Two gateway nodes on one RabbitMQ virtual host: each delivers its own documents, and
``edoc-gateway demo`` completes beside a running gateway (real apps, real RabbitMQ)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.credentials.auth import sign_request
from tests.integration.gateway_node import REPO, running_node, settings_for
from tests.pki import make_ca, make_leaf, write_pems
from tests.services import free_port
from tests.world import AGENCIES, G17, G22, SECRETS, document

pytestmark = pytest.mark.integration

DOCS = 20
H17 = "000.00.00.H17"
WAIT_S = 90.0


def states(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT state FROM deliveries")]


async def send(session: aiohttp.ClientSession, base: str, packet: bytes) -> None:
    headers = sign_request("SYS-G22", SECRETS["SYS-G22"], "POST", "/v1/messages", packet)
    async with session.post(base + "/v1/messages", data=packet, headers=headers) as response:
        assert response.status == 202, await response.text()


async def push_recipient(received: list[str]) -> tuple[web.AppRunner, str]:
    """A push endpoint on loopback that records what it was sent and answers 200."""

    async def inbound(request: web.Request) -> web.Response:
        received.append((await request.read()).decode("utf-8", "replace"))
        return web.json_response({"status": "OK"})

    app = web.Application(client_max_size=2**24)
    app.router.add_post("/in", inbound)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/in"


def node_settings(directory: Path, amqp_url: str, code: str, push_url: str) -> Any:
    """A node with its own key (push requests are signed) and a push recipient H17."""
    ca = make_ca("Test Root CA")
    pems = write_pems(directory / "pki", node=make_leaf(ca, f"node {code}"))
    agencies = [*AGENCIES, {"code": H17, "name": "UBND tỉnh Hòa Bình", **push_endpoint(push_url)}]
    return settings_for(
        directory,
        amqp_url,
        node={
            "code": code,
            "key_file": str(pems["node.key"]),
            "cert_file": str(pems["node.chain"]),
        },
        directory={"agencies": agencies},
    )


def push_endpoint(url: str) -> dict[str, str]:
    return {"endpoint_kind": "push", "endpoint_url": url}


async def test_two_nodes_on_one_vhost_each_deliver_their_own(tmp_path: Path, amqp_url: str) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
    received: list[str] = []
    runner, url = await push_recipient(received)
    try:
        async with (
            running_node(node_settings(dirs[0], amqp_url, G22, url)) as a,
            running_node(node_settings(dirs[1], amqp_url, G17, url)) as b,
            aiohttp.ClientSession() as session,
        ):
            for node, name in ((a, "A"), (b, "B")):
                for i in range(DOCS):
                    packet = document(f"{name}{i}", to=(H17,))
                    await send(session, str(node.make_url("")), packet)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT_S
            while loop.time() < deadline:
                done = [states(d / "store.db") for d in dirs]
                if all(s.count("delivered") == DOCS for s in done):
                    break
                await asyncio.sleep(0.2)
            # With one shared queue, each node's workers would take about half of the
            # other's tasks, find no such delivery in their own store, and drop them.
            assert [states(d / "store.db") for d in dirs] == [["delivered"] * DOCS] * 2
    finally:
        await runner.cleanup()
    assert len(received) == 2 * DOCS


async def test_demo_completes_beside_a_running_gateway(tmp_path: Path, amqp_url: str) -> None:
    config = tmp_path / "demo.toml"
    config.write_text(f'[amqp]\nurl = "{amqp_url}"\n', encoding="utf-8")
    # A gateway with the demo's node code, same broker and virtual host, workers running.
    async with running_node(settings_for(tmp_path, amqp_url)):
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", "from gateway.cli import main; main()", "demo", "-c", config],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "using the RabbitMQ at" in result.stdout
    assert result.stdout.rstrip().endswith("every step happened")
