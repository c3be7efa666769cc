"""How the admin API refuses: one error for a malformed request, the edge's JSON error form."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway.errors import RequestInvalid


def dumps(value: Any) -> str:
    """JSON text of an admin answer (UTF-8 kept, dates as strings)."""
    return json.dumps(value, ensure_ascii=False, default=str)


def json_answer(value: Any, status: int = 200) -> web.Response:
    """An admin JSON answer."""
    return web.json_response(value, status=status, dumps=dumps)


class BadRequest(RequestInvalid):
    """Raised when an admin request is malformed (not JSON, a field missing or invalid)."""

    code = "BAD_REQUEST"
    message_vi = "Yêu cầu không hợp lệ"
    message_en = "Bad request"
