"""A whole gateway node for the console's browser tests, and a headless Chromium.

The node (``gateway.app.build_app``, real RabbitMQ, SQLite store, a node key so it can
push) runs on its own event loop in a background thread, so Selenium's blocking calls can
drive the system Chromium (``/usr/bin/chromium`` through ``/usr/bin/chromedriver``, which
Selenium starts on a free loopback port and stops on ``quit``) against it over loopback.
A push recipient on loopback refuses (404, a permanent failure: the delivery is parked)
until the test tells it to accept.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from gateway.credentials.auth import sign_request
from tests.integration.gateway_node import running_node, settings_for
from tests.loopback import LoopbackRecipient
from tests.pki import make_self_signed
from tests.services import free_port
from tests.world import AGENCIES, H14, SECRETS

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "console"
PASSWORDS = {
    "admin": "quan-tri-Đà-Lạt-2026",
    "operator": "van-hanh-Huế-2026",
    "auditor": "kiem-tra-Vinh-2026",
}
T = TypeVar("T")


class Recipient(LoopbackRecipient):
    """A push recipient: answers 404 (refused for good) until ``accept`` is set."""

    path = "/inbox"

    def __init__(self) -> None:
        super().__init__()
        self.accept = False
        self.received = 0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        if not self.accept:
            return web.Response(status=404, text="no such mailbox yet")
        self.received += 1
        return web.Response(status=200)


@dataclass
class ConsoleNode:
    """The running node: its URL, config file, store URL, loop and push recipient."""

    url: str
    config: Path
    store_url: str
    loop: asyncio.AbstractEventLoop
    recipient: Recipient
    app: web.Application
    sent: dict[str, str] = field(default_factory=dict)  # DocumentId -> message id

    def run(self, work: Awaitable[T], timeout: float = 60) -> T:
        """Run a coroutine on the node's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)  # type: ignore[arg-type]

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run ``edoc-gateway ARGS --config FILE`` as a separate process."""
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        return subprocess.run(
            [sys.executable, "-c", "from gateway.cli import main; main()", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    async def submit(
        self, packet: bytes, system: str = "SYS-G22", path: str = "/v1/messages"
    ) -> dict[str, Any]:
        """POST to the native REST door, signed as a calling system (a packet, an ack)."""
        auth = sign_request(system, SECRETS[system], "POST", path, packet)
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url + path, data=packet, headers=auth) as response,
        ):
            assert response.status in (200, 201, 202), await response.text()
            body: dict[str, Any] = await response.json()
            return body

    async def status_of(self, path: str, system: str, secret: str) -> int:
        """HTTP status of a signed GET as ``system`` with ``secret`` (new systems)."""
        auth = sign_request(system, secret, "GET", path, b"")
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + path, headers=auth) as response,
        ):
            return response.status

    def wait_status(self, path: str, system: str, secret: str, wanted: int) -> None:
        """Wait (registries refresh within seconds) until the call answers ``wanted``."""
        deadline = time.monotonic() + 30
        while (status := self.run(self.status_of(path, system, secret))) != wanted:
            assert time.monotonic() < deadline, f"{system}: {status}, never {wanted}"
            time.sleep(0.3)


@contextmanager
def console_node(tmp: Path, amqp_url: str) -> Iterator[ConsoleNode]:
    """Start the node in a background thread; stop it (and the recipient) afterwards."""
    node_cred = make_self_signed("edoc-gateway test node")
    (tmp / "node.key").write_bytes(node_cred.key_pem)
    (tmp / "node.crt").write_bytes(node_cred.chain_pem)
    recipient = Recipient()
    agencies = [dict(a) for a in AGENCIES]
    for agency in agencies:
        if agency["code"] == H14:
            agency.update(endpoint_kind="push", endpoint_url=recipient.url)
    store_url = f"sqlite:///{tmp / 'store.db'}"
    settings = settings_for(
        tmp,
        amqp_url,
        node={
            "code": "000.00.00.G22",
            "key_file": str(tmp / "node.key"),
            "cert_file": str(tmp / "node.crt"),
        },
        directory={"agencies": agencies},
    )
    config = tmp / "gateway.toml"
    config.write_text(f'[store]\nurl = "{store_url}"\nblob_dir = "{tmp / "blobs"}"\n')
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    stack = AsyncExitStack()
    port = free_port()

    async def start() -> web.Application:
        await recipient.start()
        server = await stack.enter_async_context(running_node(settings, port=port))
        return server.app

    app = asyncio.run_coroutine_threadsafe(start(), loop).result(120)
    node = ConsoleNode(f"http://127.0.0.1:{port}", config, store_url, loop, recipient, app)
    try:
        yield node
    finally:
        asyncio.run_coroutine_threadsafe(stack.aclose(), loop).result(60)
        asyncio.run_coroutine_threadsafe(recipient.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def chromium() -> webdriver.Chrome:
    """A headless system Chromium at 1366x768 (root: no sandbox), Vietnamese preferred."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1366,768",
        "--lang=vi-VN",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    service = Service(executable_path=CHROMEDRIVER, port=free_port())
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    # --window-size counts the window's frame: make the page itself 1366x768.
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    size = driver.get_window_size()
    driver.set_window_size(size["width"] + 1366 - inner[0], size["height"] + 768 - inner[1])
    return driver


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """Save the visible page (1366x768) as ``docs/console/NAME.png``."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
