"""Admin API routes for calling systems (mounted on the admin app at ``/admin/v1``).

``GET /systems``, ``GET /systems/{id}``, ``POST /systems`` {id, agencies, profile?, policy?,
allowed_networks?, pdf_signatures?, signer_binding?, secret?}, ``POST /systems/{id}/rotate``
{secret?, overlap_days?}, ``POST /systems/{id}/disable`` {reason?},
``POST /systems/{id}/enable``. A secret is answered once, by ``POST /systems`` and
``/rotate`` (generated unless given); views never carry one. Authentication, error form and
actor are those of :mod:`adapters.rest.admin`; the handlers call
:class:`gateway.credentials.store.SystemsStore` and refresh this process's registry so the
change is in force here at once (other processes see it within a poll interval).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from adapters.rest.admin_errors import BadRequest
from adapters.rest.keys import ADMIN_ACTOR as _ACTOR
from gateway import appkeys
from gateway.credentials.registry import IssuedSecret, SystemSpec, SystemView


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _answer(value: SystemView | IssuedSecret | list[SystemView], status: int = 200) -> web.Response:
    if isinstance(value, IssuedSecret):
        body: Any = {"system": value.system.as_dict(), "secret": value.secret}
    elif isinstance(value, list):
        body = {"systems": [v.as_dict() for v in value]}
    else:
        body = {"system": value.as_dict()}
    # A secret in an answer must not be kept by any cache on the way.
    headers = {"Cache-Control": "no-store"}
    return web.json_response(body, status=status, dumps=_dumps, headers=headers)


async def _object(request: web.Request) -> dict[str, Any]:
    if not request.body_exists or not await request.read():  # read by the edge already
        return {}
    try:
        body = await request.json(loads=json.loads)
    except ValueError as exc:
        raise BadRequest("the body is not JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _strings(body: dict[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name, [])
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a list of strings")
    return tuple(value)


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


async def _refreshed(request: web.Request, value: Any) -> Any:
    registry = request.config_dict.get(appkeys.CALLING_SYSTEMS)
    if registry is not None:
        await registry.refresh()
    return value


def _store(request: web.Request) -> Any:
    return request.config_dict[appkeys.SYSTEMS_STORE]


async def list_systems(request: web.Request) -> web.Response:
    """GET /systems: every calling system (no secret)."""
    return _answer(await _store(request).list())


async def show_system(request: web.Request) -> web.Response:
    """GET /systems/{id}: one calling system (no secret)."""
    return _answer(await _store(request).show(request.match_info["id"]))


async def add_system(request: web.Request) -> web.Response:
    """POST /systems: create a calling system; answers its secret, this once."""
    body = await _object(request)
    system_id = body.get("id")
    if not isinstance(system_id, str):
        raise BadRequest("id is required")
    fields = {
        k: body[k]
        for k in ("profile", "policy", "pdf_signatures", "signer_binding")
        if isinstance(body.get(k), str)
    }
    spec = SystemSpec(
        system_id,
        agencies=_strings(body, "agencies"),
        allowed_networks=_strings(body, "allowed_networks"),
        **fields,
    )
    issued = await _store(request).add(
        spec, secret=_optional_text(body, "secret"), actor=request[_ACTOR]
    )
    return _answer(await _refreshed(request, issued), status=201)


async def rotate_system(request: web.Request) -> web.Response:
    """POST /systems/{id}/rotate: a new secret; the previous one works for the overlap."""
    body = await _object(request)
    overlap = body.get("overlap_days")
    if overlap is not None and (not isinstance(overlap, int | float) or overlap < 0):
        raise BadRequest("overlap_days must be a number >= 0")
    issued = await _store(request).rotate(
        request.match_info["id"],
        secret=_optional_text(body, "secret"),
        overlap_days=overlap,
        actor=request[_ACTOR],
    )
    return _answer(await _refreshed(request, issued))


async def disable_system(request: web.Request) -> web.Response:
    """POST /systems/{id}/disable {reason?}: refuse the system's requests from now on."""
    body = await _object(request)
    view = await _store(request).disable(
        request.match_info["id"], actor=request[_ACTOR], reason=_optional_text(body, "reason")
    )
    return _answer(await _refreshed(request, view))


async def enable_system(request: web.Request) -> web.Response:
    """POST /systems/{id}/enable: accept the system's requests again."""
    view = await _store(request).enable(request.match_info["id"], actor=request[_ACTOR])
    return _answer(await _refreshed(request, view))


ROUTES = [
    ("GET", "/systems", list_systems),
    ("POST", "/systems", add_system),
    ("GET", "/systems/{id}", show_system),
    ("POST", "/systems/{id}/rotate", rotate_system),
    ("POST", "/systems/{id}/disable", disable_system),
    ("POST", "/systems/{id}/enable", enable_system),
]


def setup_systems_routes(admin: web.Application) -> None:
    """Add the calling-system routes to the admin application (its auth and errors apply)."""
    for method, path, handler in ROUTES:
        admin.router.add_route(method, path, handler)
