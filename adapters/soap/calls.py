"""What every hub action receives and returns, and the numeric document ids they share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from lxml import etree

from adapters.soap.context import HubContext, context_of
from adapters.soap.envelope import HubRequest
from edxml.edoc_vn import MimePart
from gateway.core import hub_numbers as hub_ids
from gateway.credentials.auth import Caller
from gateway.errors import NotFound, RequestInvalid

_T = TypeVar("_T")
BIG = 1 * 2**20
"""Bodies and packets above this size are parsed off the event loop."""


@dataclass
class Call:
    """One authenticated hub request: the caller, the agency it acts for, the envelope,
    and a loader for the MIME attachments (read only when the action needs them)."""

    request: web.Request
    soap: HubRequest
    caller: Caller
    organ_id: str
    parts: Callable[[], Awaitable[dict[str, MimePart]]]

    @property
    def ctx(self) -> HubContext:
        """The door's shared context."""
        return context_of(self.request)


@dataclass
class Answer:
    """What an action answers: the payload of ``edXML:{Action}Response`` (or, with
    ``wrapped`` False, the whole envelope bytes in ``envelope``) and MIME parts."""

    payload: list[etree._Element] = field(default_factory=list)
    parts: list[MimePart] = field(default_factory=list)
    envelope: bytes | None = None


Action = Callable[[Call], Awaitable[Answer]]


async def off_loop(size: int, func: Callable[..., _T], *args: Any) -> _T:
    """Run ``func(*args)`` in the default executor when ``size`` is big, inline otherwise."""
    if size < BIG:
        return func(*args)
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


async def number_of(ctx: HubContext, message_id: str) -> int:
    """Return the stable numeric id hub clients use for ``message_id``."""
    return await hub_ids.number_for(ctx.engine, message_id, datetime.now(UTC))


async def message_of(ctx: HubContext, number: int) -> str:
    """Return the message behind a numeric id; ``RequestInvalid`` for 0, ``NotFound`` for
    a number never given."""
    if number <= 0:
        raise RequestInvalid("DocumentId is required (a number)")
    message_id = await hub_ids.message_for(ctx.engine, number)
    if message_id is None:
        raise NotFound(str(number))
    return message_id
