"""Hops: the nodes a relayed message passed through before this one (federation A → H → B).

A relaying node sends, beside the packet and never inside it (the signed bytes stay as
the sender signed them), the list of nodes the message passed, oldest first, its own hop
last: ``{node, received_at, forwarded_at}`` each. Over VXP the list travels in the signed
``hops`` header of ``sendEdoc`` (authenticated as coming from the calling system) and in
the ``hops`` field of the ``getEdoc`` answer to a node pulling from its upstream.

A node that finds its own code in the path refuses the packet (``ROUTING_LOOP``): the
routes loop. The receiving node stores the list beside the message
(``gateway.store.hops``) with who reported it (the calling system) and by which door,
after the message itself is stored and before the relaying side is answered: when that
answer is lost the relaying side sends again, the message is a duplicate and the path is
stored then (once; the first report wins). The trace shows the path; a node relaying
further sends the path plus its own hop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.core.views import Hop
from gateway.errors import RequestInvalid, RoutingLoop
from gateway.store import hops as store
from gateway.store.database import transaction

MAX_HOPS = 32  # a longer path is a routing loop, not a federation
MAX_FIELD = 64


def _text(hop: dict[str, Any], key: str, index: int) -> str | None:
    value = hop.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_FIELD:
        raise RequestInvalid(f"hops[{index}].{key}: a text of at most {MAX_FIELD} characters")
    return value


def parse_hops(value: object) -> tuple[Hop, ...]:
    """Read a decoded hop list (JSON array of objects); raise ``RequestInvalid`` when it is
    not one, a hop names no node, or it is longer than ``MAX_HOPS`` (a routing loop)."""
    if not isinstance(value, list) or not all(isinstance(h, dict) for h in value):
        raise RequestInvalid("the hops header must be a JSON list of objects")
    if len(value) > MAX_HOPS:
        raise RoutingLoop(f"more than {MAX_HOPS} hops")
    hops = []
    for index, hop in enumerate(value):
        node = _text(hop, "node", index)
        if not node or not node.strip():
            raise RequestInvalid(f"hops[{index}]: the node is missing")
        hops.append(Hop(node, _text(hop, "received_at", index), _text(hop, "forwarded_at", index)))
    return tuple(hops)


def check_path(hops: Sequence[Hop], node: str | None) -> None:
    """Raise ``RoutingLoop`` when the path a packet came with already names ``node`` (this
    node's code): a route between nodes leads back here, and accepting the packet again
    would send it round until the hop limit."""
    if node and any(h.node.strip().upper() == node.upper() for h in hops):
        raise RoutingLoop(f"the path already passed {node}")


def parse_hops_text(text: str | None) -> tuple[Hop, ...]:
    """Read the ``hops`` header (JSON text; empty or absent: no hops)."""
    if not text:
        return ()
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise RequestInvalid("the hops header is not JSON") from exc
    return parse_hops(value)


def hops_text(hops: Sequence[Hop]) -> str:
    """The ``hops`` header of a list (compact JSON of the wire forms)."""
    return json.dumps([h.wire() for h in hops], separators=(",", ":"))


def onward(
    path: Sequence[Hop], node: str | None, received_at: datetime, now: datetime | None = None
) -> tuple[Hop, ...]:
    """The list a node sends on: the path the message came with, then its own hop
    (received when it accepted the message, forwarded now); no own hop without a code."""
    mine: tuple[Hop, ...] = ()
    if node:
        forwarded = (now or datetime.now(UTC)).isoformat()
        mine = (Hop(node, received_at.isoformat(), forwarded),)
    return tuple(Hop(h.node, h.received_at, h.forwarded_at) for h in path) + mine


async def record_path(
    engine: AsyncEngine,
    message_id: str,
    hops: Sequence[Hop],
    *,
    reported_by: str,
    via: str,
    at: datetime | None = None,
) -> int:
    """Store the path of an accepted message (once); return the hops written now."""
    if not hops:
        return 0
    new = [store.NewHop(h.node, h.received_at, h.forwarded_at) for h in hops]
    async with transaction(engine) as conn:
        return await store.record_path(
            conn,
            message_id,
            new,
            reported_by=reported_by,
            via=via,
            at=at or datetime.now(UTC),
        )


async def stored_path(conn: AsyncConnection, message_id: str) -> tuple[Hop, ...]:
    """Return the stored path of a message, oldest hop first."""
    return tuple(
        Hop(
            row.node,
            row.received_at,
            row.forwarded_at,
            row.reported_by,
            row.via,
            row.recorded_at.isoformat(),
        )
        for row in await store.path_of(conn, message_id)
    )
