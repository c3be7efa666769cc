"""Admin API: ``POST /admin/v1/messages/{message_id}/takedown`` with ``{"reason": "..."}``.

Translates the request for :func:`gateway.legal.takedown.take_down` and answers with the
tombstone; authentication is the admin app's (``adapters.rest.admin``), whose middleware
sets the actor.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from adapters.rest.keys import ADMIN_ACTOR
from gateway import appkeys
from gateway.errors import RequestInvalid
from gateway.legal.takedown import take_down


async def takedown(request: web.Request) -> web.Response:
    """Take a stored message down: tombstone, deliveries withdrawn, bytes removed."""
    try:
        body: Any = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestInvalid("body must be a JSON object with a reason") from exc
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        raise RequestInvalid("reason is required")
    stone = await take_down(
        request.config_dict[appkeys.ENGINE],
        request.config_dict[appkeys.BLOBS],
        request.match_info["message_id"],
        actor=request.get(ADMIN_ACTOR, "admin"),
        reason=reason.strip(),
    )
    return web.json_response(
        stone.as_dict(), dumps=lambda v: json.dumps(v, ensure_ascii=False, default=str)
    )
