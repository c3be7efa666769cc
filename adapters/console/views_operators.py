"""Người vận hành (operator accounts): list for everyone; add, reset a password, change a
role, disable for admins. The store's ``gateway.credentials.operators`` does the work
and the audit."""

from __future__ import annotations

from aiohttp import web

from adapters.console.web import SESSIONS, actor, render, require
from gateway import appkeys
from gateway.credentials import operators


async def operators_page(request: web.Request) -> web.Response:
    """List operator accounts (never a hash)."""
    accounts = await operators.list_all(request.config_dict[appkeys.ENGINE])
    return render(
        request,
        "operators.html",
        {"accounts": accounts, "roles": operators.ROLES, "notice": request.query.get("done")},
    )


async def change(request: web.Request) -> web.StreamResponse:
    """``action`` = add | passwd | role | disable (admin)."""
    require(request, "admin")
    form = await request.post()
    engine = request.config_dict[appkeys.ENGINE]
    name = str(form.get("name", "")).strip()
    action = str(form.get("action", ""))
    who = actor(request)
    if action == "add":
        role = str(form.get("role", ""))
        await operators.add(engine, name, role, str(form.get("password", "")), actor=who)
    elif action == "passwd":
        await operators.set_password(engine, name, str(form.get("password", "")), actor=who)
    elif action == "role":
        await operators.set_role(engine, name, str(form.get("role", "")), actor=who)
    elif action == "disable":
        await operators.disable(engine, name, actor=who)
        request.app[SESSIONS].close_operator(name)
    else:
        raise operators.OperatorRefused(f"unknown action {action!r}")
    raise web.HTTPSeeOther(f"/console/operators?done={action}")
