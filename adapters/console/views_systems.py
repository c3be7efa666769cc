"""Hệ thống kết nối (calling systems): list, add, rotate the secret, disable (admin),
backed by the credentials store (:class:`gateway.credentials.store.SystemsStore`). A new
secret is shown once, on the page that answers the action, never again."""

from __future__ import annotations

from typing import cast

from aiohttp import web

from adapters.console.web import actor, render, require
from gateway import appkeys
from gateway.credentials.registry import SystemSpec
from gateway.credentials.store import SystemsStore


def systems_store(request: web.Request) -> SystemsStore:
    """The application's credentials store (opened and seeded by the composition root)."""
    return cast(SystemsStore, request.config_dict[appkeys.SYSTEMS_STORE])


async def _page(request: web.Request, issued: object = None) -> web.Response:
    stored = await systems_store(request).list()
    known = {s.id for s in stored}
    settings = request.config_dict[appkeys.SETTINGS]
    from_config = [s for s in settings.systems if s.id not in known]
    return render(
        request,
        "systems.html",
        {"systems": stored, "from_config": from_config, "issued": issued},
    )


async def systems(request: web.Request) -> web.Response:
    """List the calling systems (no secret is ever shown here)."""
    return await _page(request)


def _codes(value: object) -> tuple[str, ...]:
    text = str(value or "").replace(",", " ").replace(";", " ")
    return tuple(c.strip().upper() for c in text.split() if c.strip())


async def add(request: web.Request) -> web.Response:
    """Create a system bound to agencies; answer with its secret, shown this once."""
    require(request, "admin")
    form = await request.post()
    spec = SystemSpec(
        id=str(form.get("id", "")).strip(),
        agencies=_codes(form.get("agencies")),
        profile=str(form.get("profile", "sdk")),
        policy=str(form.get("policy", "legacy")),
    )
    issued = await systems_store(request).add(spec, actor=actor(request))
    return await _page(request, issued)


async def rotate(request: web.Request) -> web.Response:
    """Give a system a new secret (the previous one stays valid for the overlap)."""
    require(request, "admin")
    issued = await systems_store(request).rotate(
        request.match_info["system_id"], actor=actor(request)
    )
    return await _page(request, issued)


async def disable(request: web.Request) -> web.StreamResponse:
    """Refuse a system's requests from now on."""
    require(request, "admin")
    form = await request.post()
    await systems_store(request).disable(
        request.match_info["system_id"],
        actor=actor(request),
        reason=str(form.get("reason", "")).strip() or "console",
    )
    raise web.HTTPSeeOther("/console/systems")
