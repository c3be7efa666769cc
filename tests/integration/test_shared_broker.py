"""Two gateway nodes on one RabbitMQ virtual host: each delivers its own documents, and
``edoc-gateway demo`` completes beside a running gateway (real apps, real RabbitMQ)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.auth import sign_request
from tests.integration.gateway_node import (
    G17,
    REPO,
    SECRETS,
    document,
    running_node,
    settings_for,
)

pytestmark = pytest.mark.integration

DOCS = 20
WAIT_S = 90.0


def states(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT state FROM deliveries")]


async def send(session: aiohttp.ClientSession, base: str, packet: bytes) -> None:
    headers = sign_request("SYS-G22", SECRETS["SYS-G22"], "POST", "/v1/messages", packet)
    async with session.post(base + "/v1/messages", data=packet, headers=headers) as response:
        assert response.status == 202, await response.text()


async def test_two_nodes_on_one_vhost_each_deliver_their_own(tmp_path: Path, amqp_url: str) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        d.mkdir()
    first = settings_for(dirs[0], amqp_url)
    second = settings_for(
        dirs[1],
        amqp_url,
        node={"code": G17, "key_file": str(dirs[1] / "no.key"), "cert_file": str(dirs[1] / "n")},
    )
    async with (
        running_node(first) as a,
        running_node(second) as b,
        aiohttp.ClientSession() as session,
    ):
        for node, name in ((a, "A"), (b, "B")):
            for i in range(DOCS):
                await send(session, str(node.make_url("")), document(f"{name}{i}"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while loop.time() < deadline:
            done = [states(d / "store.db") for d in dirs]
            if all(s.count("delivered") == DOCS for s in done):
                break
            await asyncio.sleep(0.2)
        # With one shared queue, each node's workers would take about half of the other's
        # tasks, find no such delivery in their own store, and drop them.
        assert [states(d / "store.db") for d in dirs] == [["delivered"] * DOCS] * 2


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
