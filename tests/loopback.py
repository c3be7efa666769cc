"""A push recipient served on a free loopback port, for the delivery tests to subclass."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.push.signature import verify_request
from tests.services import free_port


class LoopbackRecipient:
    """Serves ``handle`` for POSTs to ``path`` on 127.0.0.1; ``url`` adds ``query``."""

    path = "/in"
    query = ""

    def __init__(self, cert: Any = None) -> None:
        self.cert = cert  # the node's certificate, when the recipient verifies pushes
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The URL a push endpoint is configured with."""
        return f"http://127.0.0.1:{self.port}{self.path}{self.query}"

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one push (each recipient says how)."""
        raise NotImplementedError

    async def verified(self, request: web.Request) -> tuple[str, bytes]:
        """Read a push and verify the node's signature over it (``PushSignatureError``
        otherwise); return its delivery id and body."""
        body = await request.read()
        delivery_id = verify_request(
            self.cert,
            method=request.method,
            path=request.raw_path,
            headers=request.headers,
            body=body,
        )
        return delivery_id, body

    async def start(self) -> None:
        """Listen on the loopback port."""
        app = web.Application()
        app.router.add_post(self.path, self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Stop listening (again: nothing)."""
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
