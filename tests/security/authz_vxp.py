"""The VXP performers of the authorization matrix: each calls its VXP operation as the
cell's role (signed by its system, with the admin token, or anonymously) and classifies
the answer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from tests.security.authz_matrix import REFUSAL_CODES, Ctx, fresh
from tests.vxp_client import VxpTestClient, sdk_hash_file
from tests.world import ADMIN_TOKEN, G22, SECRETS


def by_answer(ok: bool, code: str | None, listed: bool | None = None) -> str:
    """Classify a VXP answer as allowed / hidden / refused."""
    if not ok:
        if code == "NOT_FOUND":
            return "hidden"
        assert code in REFUSAL_CODES, code
        return "refused"
    return "allowed" if listed in (None, True) else "hidden"


async def vxp(ctx: Ctx, op: str, params: dict[str, str], body: bytes | None = None) -> dict:
    """One VXP call as the role: signed by its system, or with the admin token, or bare."""
    if ctx.system is not None:
        client = VxpTestClient(ctx.http, ctx.url + "/vxp", ctx.system, SECRETS[ctx.system])
        return await client.call(op, params, body=body)
    headers = {f"XroadVnpt-{k}": v for k, v in params.items()}
    if ctx.role == "admin":
        headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    async with ctx.http.post(f"{ctx.url}/vxp/{op}", data=body, headers=headers) as response:
        assert response.status == 200
        return json.loads(await response.read())


async def vxp_send(ctx: Ctx) -> str:
    """sendEdoc of a fresh document as the role."""
    packet = fresh()
    params = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"}
    answer = await vxp(ctx, "sendEdoc", {**params, "hash-file": sdk_hash_file(packet)}, packet)
    return by_answer(answer["status"] == "OK", answer.get("code"))


async def vxp_received(ctx: Ctx) -> str:
    """getReceivedEdocList as the role: is the cell's document listed?"""
    answer = await vxp(ctx, "getReceivedEdocList", {"servicetype": "eDoc", "messagetype": "edoc"})
    ids = {i["docId"] for i in answer.get("data") or []}
    return by_answer(answer["status"] == "OK", answer.get("code"), ctx.message_id in ids)


async def vxp_get(ctx: Ctx) -> str:
    """getEdoc of the cell's document as the role."""
    answer = await vxp(ctx, "getEdoc", {"docId": ctx.message_id})
    return by_answer(answer["status"] == "OK", answer.get("code"))


async def vxp_update(ctx: Ctx) -> str:
    """updateStatus of the cell's document as the role."""
    answer = await vxp(ctx, "updateStatus", {"docId": ctx.message_id, "status": "done"})
    return by_answer(answer["status"] == "OK", answer.get("code"))


async def vxp_sent(ctx: Ctx) -> str:
    """getSentEdocList as the role: is the cell's document listed?"""
    answer = await vxp(ctx, "getSentEdocList", {"servicetype": "eDoc"})
    ids = {i["senderDocId"] for i in answer.get("data") or []}
    return by_answer(answer["status"] == "OK", answer.get("code"), ctx.message_id in ids)


async def vxp_register(ctx: Ctx) -> str:
    """registerAgency as the role."""
    record = json.dumps({"code": "000.00.00.H59", "name": "Đơn vị đăng ký thử"}).encode()
    answer = await vxp(ctx, "registerAgency", {"Content-Type": "application/json"}, record)
    return by_answer(answer["status"] == "OK", answer.get("code"))


VXP_PERFORMERS: dict[str, Callable[[Ctx], Awaitable[str]]] = {
    "VXP sendEdoc": vxp_send,
    "VXP getReceivedEdocList": vxp_received,
    "VXP getEdoc": vxp_get,
    "VXP updateStatus": vxp_update,
    "VXP getSentEdocList": vxp_sent,
    "VXP registerAgency": vxp_register,
}
