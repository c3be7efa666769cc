"""The native REST, admin and ops performers of the authorization matrix: each calls its
operation as the cell's role and classifies the answer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from tests.security.authz_matrix import Ctx, by_status, fresh, rest


async def rest_tokens(ctx: Ctx) -> str:
    """POST /v1/tokens as the role."""
    return by_status((await rest(ctx, "POST", "/v1/tokens"))[0])


async def rest_send(ctx: Ctx) -> str:
    """POST /v1/messages of a fresh document as the role."""
    return by_status((await rest(ctx, "POST", "/v1/messages", fresh()))[0])


async def rest_inbox(ctx: Ctx) -> str:
    """GET /v1/inbox as the role: is the cell's document listed?"""
    status, body = await rest(ctx, "GET", "/v1/inbox?limit=500")
    ids = {i["message_id"] for i in body["items"]} if status == 200 else set()
    return by_status(status, ctx.message_id in ids)


async def rest_sent(ctx: Ctx) -> str:
    """GET /v1/sent as the role: is the cell's document listed?"""
    status, body = await rest(ctx, "GET", "/v1/sent?limit=500")
    ids = {i["message_id"] for i in body["items"]} if status == 200 else set()
    return by_status(status, ctx.message_id in ids)


async def rest_fetch(ctx: Ctx) -> str:
    """GET the cell's document as the role."""
    return by_status((await rest(ctx, "GET", f"/v1/messages/{ctx.message_id}"))[0])


async def rest_ack(ctx: Ctx) -> str:
    """Acknowledge the cell's document as the role."""
    return by_status((await rest(ctx, "POST", f"/v1/messages/{ctx.message_id}/ack"))[0])


async def rest_trace(ctx: Ctx) -> str:
    """GET the cell's document trace as the role."""
    return by_status((await rest(ctx, "GET", f"/v1/messages/{ctx.message_id}/trace"))[0])


def plain(
    method: str, path: str, body: dict[str, Any] | None = None
) -> Callable[[Ctx], Awaitable[str]]:
    """A performer calling ``method path`` with an optional JSON body."""

    async def call(ctx: Ctx) -> str:
        data = json.dumps(body).encode() if body is not None else b""
        return by_status((await rest(ctx, method, path, data))[0])

    return call


REST_PERFORMERS: dict[str, Callable[[Ctx], Awaitable[str]]] = {
    "REST POST /v1/tokens": rest_tokens,
    "REST POST /v1/messages": rest_send,
    "REST GET /v1/inbox": rest_inbox,
    "REST GET /v1/sent": rest_sent,
    "REST GET /v1/messages/{id}": rest_fetch,
    "REST POST /v1/messages/{id}/ack": rest_ack,
    "REST GET /v1/messages/{id}/trace": rest_trace,
    "REST GET /v1/openapi.json": plain("GET", "/v1/openapi.json"),
    "ADMIN GET /admin/v1/agencies": plain("GET", "/admin/v1/agencies"),
    "ADMIN PUT /admin/v1/agencies/{code}": plain(
        "PUT", "/admin/v1/agencies/000.00.00.H60", {"name": "Đơn vị thử quyền"}
    ),
    "ADMIN GET /admin/v1/export": plain("GET", "/admin/v1/export"),
    "ADMIN GET /admin/v1/changes": plain("GET", "/admin/v1/changes"),
    "OPS DELETE /maintenance": plain("DELETE", "/maintenance"),
    "OPS GET /readyz": plain("GET", "/readyz"),
    "OPS GET /metrics": plain("GET", "/metrics"),
}
