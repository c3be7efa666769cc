"""Native REST API v1: builds the sub-application mounted at ``/v1``.

Runs the one edge (``adapters.edge``): refusals rendered as ``{"error": {"code",
"message_vi", "message_en", "path"}}`` with the status of the class-keyed table
``adapters.edge.HTTP_STATUS``, and audited once where they are decided (door ``rest``).
"""

from __future__ import annotations

from aiohttp import web

from adapters.edge import Door
from adapters.rest import handlers
from adapters.rest.openapi import OPENAPI
from adapters.rest.reading import dumps

DOOR = Door("rest")


async def openapi(_request: web.Request) -> web.Response:
    """Serve the OpenAPI document of API v1."""
    return web.json_response(OPENAPI, dumps=dumps)


ROUTES = [
    ("GET", "/openapi.json", openapi),
    ("POST", "/tokens", handlers.issue_token),
    ("DELETE", "/tokens/{token_id}", handlers.revoke_token),
    ("POST", "/messages", handlers.submit),
    ("GET", "/inbox", handlers.inbox),
    ("GET", "/sent", handlers.sent),
    ("GET", "/messages/{message_id}", handlers.fetch),
    ("POST", "/messages/{message_id}/ack", handlers.ack),
    ("GET", "/messages/{message_id}/trace", handlers.trace),
]


def build_rest_app() -> web.Application:
    """Build the API v1 application; it reads the gateway from the parent app's keys."""
    app = web.Application(middlewares=[DOOR.middleware()])
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    return app
