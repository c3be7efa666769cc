"""Reading a hub request in two steps: the head before authentication, the rest after.

The SOAP envelope (which carries the credentials) leads the body, so only its bounded head is
read before the caller is known; an unauthenticated caller can make the gateway read at most
``head`` bytes (plus one chunk) whatever it sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from adapters.bodies import timed
from gateway.errors import PayloadTooLarge

_CHUNK = 256 * 1024


@dataclass
class Head:
    """The first bytes of a body and whether they are the whole of it."""

    data: bytes
    ended: bool


async def read_head(request: web.Request, size: int, limit: int) -> Head:
    """Read up to ``size`` bytes (and one more chunk to learn whether the body ended).

    A declared Content-Length over ``limit`` is refused before anything is read; a head that
    does not arrive within the read timeout is ``RequestTimeout`` (``adapters.bodies``).
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"{declared} > {limit} bytes")
    return await timed(request, _head(request, size, declared))


async def _head(request: web.Request, size: int, declared: int | None) -> Head:
    chunks: list[bytes] = []
    total = 0
    while total < size:
        chunk = await request.content.read(min(_CHUNK, size - total))
        if not chunk:
            return Head(b"".join(chunks), True)
        chunks.append(chunk)
        total += len(chunk)
    if declared is not None:
        return Head(b"".join(chunks), declared <= total)
    more = await request.content.read(_CHUNK)
    if more:
        chunks.append(more)
    return Head(b"".join(chunks), not more)


async def read_rest(request: web.Request, head: Head, limit: int) -> bytes:
    """Read the remainder of the body after ``head``, refusing more than ``limit`` in all
    (and a remainder slower than the read timeout)."""
    if head.ended:
        return head.data
    return await timed(request, _rest(request, head, limit))


async def _rest(request: web.Request, head: Head, limit: int) -> bytes:
    chunks = [head.data]
    total = len(head.data)
    while chunk := await request.content.read(_CHUNK):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
