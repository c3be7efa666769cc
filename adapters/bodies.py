"""Bounded, timed reading of request bodies, shared by every inbound adapter.

A body is refused with ``PayloadTooLarge`` as soon as it passes its door's cap, and with
``RequestTimeout`` when it has not all arrived within the read timeout
(``[limits] read_timeout_s`` of the application's settings, 30 s without settings).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web

from gateway import appkeys
from gateway.errors import PayloadTooLarge, RequestTimeout

_CHUNK = 256 * 1024
DEFAULT_READ_TIMEOUT_S = 30.0
T = TypeVar("T")


def read_timeout(request: web.Request) -> float:
    """The read timeout for this request's body (``[limits] read_timeout_s``)."""
    settings = request.config_dict.get(appkeys.SETTINGS)
    return settings.limits.read_timeout_s if settings is not None else DEFAULT_READ_TIMEOUT_S


async def timed(request: web.Request, reading: Awaitable[T], timeout_s: float | None = None) -> T:
    """Await ``reading`` (a body read), refused with ``RequestTimeout`` past the timeout."""
    seconds = read_timeout(request) if timeout_s is None else timeout_s
    try:
        async with asyncio.timeout(seconds):
            return await reading
    except TimeoutError:
        raise RequestTimeout(f"body not received within {seconds:g} s") from None


async def read_bounded(
    request: web.Request, limit: int, *, timeout_s: float | None = None
) -> bytes:
    """Read the body, refusing with ``PayloadTooLarge`` as soon as it passes ``limit`` and
    with ``RequestTimeout`` when it is too slow to arrive.

    The declared Content-Length is checked first, so a too-large body is refused before
    any of it is read; a body without one (chunked) is refused while it is read.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"{declared} > {limit} bytes")
    return await timed(request, _read(request, limit), timeout_s)


async def _read(request: web.Request, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"more than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)
