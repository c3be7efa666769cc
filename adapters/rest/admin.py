"""Admin API (mounted at ``/admin/v1``): the agency directory for operators.

Authenticated with the admin bearer tokens of ``settings.admin.tokens`` only, never with
an agency system's credentials. Handlers parse, call ``gateway.directory.changes`` and answer;
every change is recorded with the actor ``admin:<token fingerprint>`` (plus the
``X-Admin-User`` header when sent; ``gateway.credentials.admin``) and seen by every running
worker within seconds. Runs the one edge (``adapters.edge``, door ``admin``): the token is
checked from the headers before any body is read, every refusal is audited once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import edge
from adapters.credentials import admin_actor
from adapters.edge import Door
from adapters.rest.admin_errors import BadRequest, json_answer
from adapters.rest.admin_takedown import takedown
from adapters.rest.keys import ADMIN_ACTOR
from gateway import appkeys
from gateway.credentials.admin import AdminTokens
from gateway.directory import certs as directory_certs
from gateway.directory import changes as ops
from gateway.directory.formats import FORMATS, guess_format, to_csv, to_json
from gateway.directory.records import certificate_rows, change_log
from gateway.directory.resolver import Endpoint, agency_to_record, normalize_code, parse_datetime
from gateway.directory.store import find_agency, load_agencies
from gateway.errors import CodeUnknown, GatewayError, NotFound

_TOKENS = web.AppKey("admin_tokens", AdminTokens)
DOOR = Door("admin")


@web.middleware
async def _auth(request: web.Request, handler: Any) -> web.StreamResponse:
    """Authenticate from the headers (``gateway.credentials.admin``), then read the body
    (bounded by the packet cap and the read timeout)."""
    tokens = request.app[_TOKENS] or _settings_tokens(request)
    request[ADMIN_ACTOR] = admin_actor(request, tokens)
    if request.can_read_body:
        await edge.preread(request, _max_body(request))
    return await handler(request)


def _max_body(request: web.Request) -> int:
    settings = request.config_dict.get(appkeys.SETTINGS)
    return settings.limits.max_packet_bytes if settings is not None else 150 * 2**20


def _settings_tokens(request: web.Request) -> AdminTokens:
    settings = request.config_dict.get(appkeys.SETTINGS)
    if settings is None:
        return AdminTokens(())
    return AdminTokens(t.get_secret_value() for t in settings.admin.tokens)


def _engine(request: web.Request) -> AsyncEngine:
    return request.config_dict[appkeys.ENGINE]


async def _changed(request: web.Request) -> None:
    """Let this process's directory see the change now rather than at the next poll."""
    directory = request.config_dict.get(appkeys.DIRECTORY)
    refresh = getattr(directory, "refresh", None)
    if refresh is not None:
        await refresh()


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _codes(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{field} must be a list of codes")
    return [normalize_code(v) for v in value]


def _when(body: dict[str, Any]) -> Any:
    try:
        return parse_datetime(body.get("effective_at"))
    except ValueError as exc:
        raise BadRequest("effective_at must be an ISO 8601 date") from exc


# -- handlers -----------------------------------------------------------------------------


async def list_agencies(request: web.Request) -> web.Response:
    """GET /agencies?q=&status=&parent=&limit=: search the catalogue."""
    q = request.query.get("q", "").casefold()
    status = request.query.get("status")
    parent = request.query.get("parent")
    try:
        limit = max(1, min(int(request.query.get("limit", "100")), 5000))
    except ValueError as exc:
        raise BadRequest("limit must be a number") from exc
    async with _engine(request).connect() as conn:
        agencies = await load_agencies(conn)
    found = []
    for a in sorted(agencies, key=lambda a: a.code):
        if (status and a.status != status) or (parent and a.parent_code != parent):
            continue
        if (
            q
            and q not in a.code.casefold()
            and q not in a.name.casefold()
            and not (a.old_code and q in a.old_code.casefold())
        ):
            continue
        found.append(agency_to_record(a))
        if len(found) >= limit:
            break
    return json_answer({"agencies": found, "count": len(found)})


async def show_agency(request: web.Request) -> web.Response:
    """GET /agencies/{code}: one agency, its certificates and its latest changes."""
    code = normalize_code(request.match_info["code"])
    async with _engine(request).connect() as conn:
        agency = await find_agency(conn, code)
        if agency is None:
            raise CodeUnknown(code, path=code)
        certs = await certificate_rows(conn, agency.code)
        changes = await change_log(conn, code=agency.code, limit=20)
    return json_answer(
        {**agency_to_record(agency), "certificate_details": certs, "changes": changes}
    )


async def put_agency(request: web.Request) -> web.Response:
    """PUT /agencies/{code}: add or change one agency (fields given in the body)."""
    body = await _body(request)
    body["code"] = request.match_info["code"]
    parsed = ops.parse_import(json.dumps([body]), "json")
    result = await ops.import_agencies(
        _engine(request),
        parsed,
        actor=request[ADMIN_ACTOR],
        retire_missing=False,
        reason=body.get("reason"),
    )
    await _changed(request)
    return json_answer(result.summary(), status=201 if result.added else 200)


async def resolve(request: web.Request) -> web.Response:
    """GET /resolve/{code}: resolve as the intake would (refusals as errors)."""
    directory = request.config_dict.get(appkeys.DIRECTORY)
    if directory is None:
        raise GatewayError("no directory loaded")
    code = request.match_info["code"]
    resolution = directory.resolve(code)
    return json_answer(
        {
            "requested": code,
            "via": list(resolution.via),
            "agency": agency_to_record(resolution.agency),
        }
    )


async def set_endpoint(request: web.Request) -> web.Response:
    """POST /agencies/{code}/endpoint {kind, url, node}."""
    body = await _body(request)
    kind = body.get("kind")
    if kind not in ("mailbox", "push", "peer"):
        raise BadRequest("kind must be mailbox, push or peer")
    endpoint = Endpoint(kind, body.get("url"), body.get("node"))
    agency = await ops.set_endpoint(
        _engine(request),
        request.match_info["code"],
        endpoint,
        actor=request[ADMIN_ACTOR],
        reason=body.get("reason"),
    )
    await _changed(request)
    return json_answer(agency_to_record(agency))


async def bind_system(request: web.Request) -> web.Response:
    """POST /agencies/{code}/systems {system_id, unbind?}."""
    body = await _body(request)
    system_id = body.get("system_id")
    if not isinstance(system_id, str) or not system_id.strip():
        raise BadRequest("system_id is required")
    agency = await ops.bind_system(
        _engine(request),
        request.match_info["code"],
        system_id.strip(),
        actor=request[ADMIN_ACTOR],
        unbind=bool(body.get("unbind")),
        reason=body.get("reason"),
    )
    await _changed(request)
    return json_answer(agency_to_record(agency))


async def add_certificate(request: web.Request) -> web.Response:
    """POST /agencies/{code}/certificates {pem}: register a signer certificate."""
    body = await _body(request)
    if not isinstance(body.get("pem"), str):
        raise BadRequest("pem is required")
    fingerprint = await directory_certs.add_certificate(
        _engine(request), request.match_info["code"], body["pem"], actor=request[ADMIN_ACTOR]
    )
    await _changed(request)
    return json_answer({"fingerprint": fingerprint}, status=201)


async def lifecycle(request: web.Request) -> web.Response:
    """POST /agencies/{code}/{action}: rename, merge, split, retire, suspend, reactivate."""
    body = await _body(request)
    code, action = request.match_info["code"], request.match_info["action"]
    engine, actor = _engine(request), request[ADMIN_ACTOR]
    reason, at = body.get("reason"), _when(body)
    result: Any
    if action == "rename":
        result = await ops.rename(
            engine,
            code,
            name=body.get("name"),
            new_code=body.get("new_code"),
            actor=actor,
            at=at,
            reason=reason,
        )
    elif action == "merge":
        into = _codes(body.get("into"), "into")
        if len(into) != 1:
            raise BadRequest("into must name one agency")
        result = (await ops.merge(engine, [code], into[0], actor=actor, at=at, reason=reason))[0]
    elif action == "split":
        result = await ops.split(
            engine, code, _codes(body.get("into"), "into"), actor=actor, at=at, reason=reason
        )
    elif action == "retire":
        result = await ops.dissolve(
            engine,
            code,
            successors=_codes(body.get("successors", []), "successors"),
            actor=actor,
            at=at,
            reason=reason,
        )
    elif action in ("suspend", "reactivate"):
        status = "suspended" if action == "suspend" else "active"
        done = await ops.set_status(engine, [code], status, actor=actor, reason=reason, at=at)
        result = done[0] if done else await _current(engine, code)
    else:  # one refusal form at this door: JSON, bilingual, audited by the edge
        raise NotFound(f"no agency action {action!r}", path="action")
    await _changed(request)
    return json_answer(agency_to_record(result))


async def _current(engine: AsyncEngine, code: str) -> Any:
    async with engine.connect() as conn:
        return await find_agency(conn, normalize_code(code))


async def import_(request: web.Request) -> web.Response:
    """POST /import?format=csv|json|axis&retire=true|false&dry_run=true|false (raw body)."""
    data = await request.read()
    fmt = request.query.get("format") or guess_format("upload", data)
    if fmt not in FORMATS:
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}")
    retire = request.query.get("retire", "true").lower() != "false"
    dry_run = request.query.get("dry_run", "false").lower() == "true"
    parsed = ops.parse_import(data, fmt)
    result = await ops.import_agencies(
        _engine(request),
        parsed,
        actor=request[ADMIN_ACTOR],
        retire_missing=retire,
        dry_run=dry_run,
        reason=request.query.get("reason"),
    )
    if not dry_run:
        await _changed(request)
    return json_answer({"dry_run": dry_run, **result.summary()})


async def export(request: web.Request) -> web.Response:
    """GET /export?format=csv|json: the whole catalogue."""
    async with _engine(request).connect() as conn:
        agencies = sorted(await load_agencies(conn), key=lambda a: a.code)
    if request.query.get("format", "json") == "csv":
        return web.Response(text=to_csv(agencies), content_type="text/csv", charset="utf-8")
    return web.Response(text=to_json(agencies), content_type="application/json", charset="utf-8")


async def inactive(request: web.Request) -> web.Response:
    """GET /inactive?days=180: live agencies without send/receive activity."""
    try:
        days = int(request.query.get("days", "180"))
    except ValueError as exc:
        raise BadRequest("days must be a number") from exc
    idle = await ops.inactive(_engine(request), days=days)
    return json_answer(
        {
            "days": days,
            "count": len(idle),
            "agencies": [{"code": c, "last_activity": at} for c, at in idle],
        }
    )


async def suspend_inactive(request: web.Request) -> web.Response:
    """POST /inactive/suspend {days}: suspend every agency idle for ``days`` days."""
    body = await _body(request)
    days = body.get("days", 180)
    if not isinstance(days, int) or days < 1:
        raise BadRequest("days must be a positive integer")
    idle = await ops.inactive(_engine(request), days=days)
    done = await ops.set_status(
        _engine(request),
        [c for c, _ in idle],
        "suspended",
        actor=request[ADMIN_ACTOR],
        reason=f"no activity for {days} days",
    )
    await _changed(request)
    return json_answer({"suspended": [a.code for a in done]})


async def changes(request: web.Request) -> web.Response:
    """GET /changes?code=&limit=: the directory's change records, newest first."""
    code = request.query.get("code")
    try:
        limit = max(1, min(int(request.query.get("limit", "100")), 1000))
    except ValueError as exc:
        raise BadRequest("limit must be a number") from exc
    async with _engine(request).connect() as conn:
        rows = await change_log(conn, code=normalize_code(code) if code else None, limit=limit)
    return json_answer({"changes": rows})


ROUTES = [
    ("GET", "/agencies", list_agencies),
    ("GET", "/agencies/{code}", show_agency),
    ("PUT", "/agencies/{code}", put_agency),
    ("POST", "/agencies/{code}/endpoint", set_endpoint),
    ("POST", "/agencies/{code}/systems", bind_system),
    ("POST", "/agencies/{code}/certificates", add_certificate),
    ("POST", "/agencies/{code}/{action}", lifecycle),
    ("GET", "/resolve/{code}", resolve),
    ("POST", "/import", import_),
    ("GET", "/export", export),
    ("GET", "/inactive", inactive),
    ("POST", "/inactive/suspend", suspend_inactive),
    ("GET", "/changes", changes),
    ("POST", "/messages/{message_id}/takedown", takedown),
]


def build_admin_app(*, tokens: Iterable[str] | None = None) -> web.Application:
    """Build the admin sub-application.

    ``tokens`` are the accepted admin bearer tokens; when omitted they are read from
    ``settings.admin.tokens`` of the parent application (``gateway.appkeys.SETTINGS``).
    The engine and the directory come from the parent (``appkeys.ENGINE``, ``DIRECTORY``).
    """
    app = web.Application(middlewares=[DOOR.middleware(), _auth])
    app[_TOKENS] = AdminTokens(tokens or ())
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    return app
