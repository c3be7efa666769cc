"""Bounded reading of request bodies, shared by every inbound adapter."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import PayloadTooLarge

_CHUNK = 256 * 1024


async def read_bounded(request: web.Request, limit: int) -> bytes:
    """Read the body, refusing with ``PayloadTooLarge`` as soon as it passes ``limit``.

    The declared Content-Length is checked first, so a too-large body is refused before
    any of it is read; a body without one (chunked) is refused while it is read.
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
