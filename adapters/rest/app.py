"""Native REST API v1: builds the sub-application mounted at ``/v1``.

Errors are rendered once, here, as ``{"error": {"code", "message_vi", "message_en",
"path"}}`` with the status the core assigns (``gateway.errors.http_status_for``).
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from adapters.rest import handlers
from adapters.rest.openapi import OPENAPI
from adapters.rest.reading import dumps
from edxml.errors import EdxmlError
from gateway.errors import GatewayError, Overloaded, http_status_for

log = structlog.get_logger(__name__)


def error_response(error: EdxmlError | GatewayError) -> web.Response:
    """Render a core or edXML refusal as the API's JSON error."""
    body = {
        "error": {
            "code": error.code,
            "message_vi": error.text_vi,
            "message_en": error.text_en,
            "path": error.path,
        }
    }
    response = web.json_response(body, status=http_status_for(error), dumps=dumps)
    if isinstance(error, Overloaded):
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn refusals into JSON errors; unexpected failures into a 500 without details."""
    try:
        return await handler(request)
    except (EdxmlError, GatewayError) as exc:
        return error_response(exc)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error", path=request.path)
        return error_response(GatewayError())


async def openapi(_request: web.Request) -> web.Response:
    """Serve the OpenAPI document of API v1."""
    return web.json_response(OPENAPI, dumps=dumps)


ROUTES = [
    ("GET", "/openapi.json", openapi),
    ("POST", "/tokens", handlers.issue_token),
    ("POST", "/messages", handlers.submit),
    ("GET", "/inbox", handlers.inbox),
    ("GET", "/sent", handlers.sent),
    ("GET", "/messages/{message_id}", handlers.fetch),
    ("POST", "/messages/{message_id}/ack", handlers.ack),
    ("GET", "/messages/{message_id}/trace", handlers.trace),
]


def build_rest_app() -> web.Application:
    """Build the API v1 application; it reads the gateway from the parent app's keys."""
    app = web.Application(middlewares=[errors_middleware])
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    return app
