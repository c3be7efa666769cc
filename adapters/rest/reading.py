"""Request reading helpers of API v1: bounded body reading and JSON encoding."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway.errors import PayloadTooLarge

_CHUNK = 256 * 1024


def dumps(value: Any) -> str:
    """JSON with UTF-8 text kept as is (Vietnamese messages stay readable)."""
    return json.dumps(value, ensure_ascii=False)


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read the body, refusing with ``PayloadTooLarge`` as soon as it passes ``limit``.

    The declared Content-Length is checked first, so a too-large body is refused before
    any of it is read.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"{declared} > {limit} bytes")
    parts: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"more than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)
