"""Request reading helpers of API v1: bounded body reading and JSON encoding."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from adapters.bodies import read_bounded


def dumps(value: Any) -> str:
    """JSON with UTF-8 text kept as is (Vietnamese messages stay readable)."""
    return json.dumps(value, ensure_ascii=False)


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read the body, refusing with ``PayloadTooLarge`` as soon as it passes ``limit``."""
    return await read_bounded(request, limit)
