"""Danh bạ (directory): search, an agency's record and history, edits and CSV import
with a preview of the diff (admin). Changes go through ``gateway.directory.changes``, which
records them (who, before, after) and appends the audit records."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sized
from typing import cast

from aiohttp import web
from aiohttp.web_request import FileField

from adapters.console.web import INDEX, PageNotFound, actor, render, require, session_of
from gateway import appkeys
from gateway.directory import changes as ops
from gateway.directory.records import certificate_rows, change_log
from gateway.directory.resolver import ENDPOINT_KINDS, Endpoint, normalize_code
from gateway.directory.store import find_agency
from gateway.errors import DirectoryChangeRefused

MAX_IMPORT_BYTES = 64 * 2**20
PREVIEW_ROWS = 200


async def directory(request: web.Request) -> web.Response:
    """``?q=TEXT``: agencies whose code (new or old) or name contains the text."""
    q = request.query.get("q", "").strip()
    started = time.perf_counter()
    found = await request.app[INDEX].search(q, limit=100) if q else []  # type: ignore[attr-defined]
    elapsed_ms = (time.perf_counter() - started) * 1000
    return render(
        request,
        "directory.html",
        {
            "q": q,
            "found": found,
            "elapsed_ms": elapsed_ms,
            "total": len(cast(Sized, request.config_dict[appkeys.DIRECTORY])),
            "imported": request.query.get("imported", "").split(".")
            if request.query.get("imported", "").count(".") == 2
            else None,
        },
    )


async def agency(request: web.Request) -> web.Response:
    """One agency: its record, certificates and lifecycle history."""
    code = normalize_code(request.match_info["code"])
    engine = request.config_dict[appkeys.ENGINE]
    async with engine.connect() as conn:
        found = await find_agency(conn, code)
        if found is None:
            raise PageNotFound(code)
        history = await change_log(conn, code=found.code, limit=200)
        certificates = await certificate_rows(conn, found.code)
    return render(
        request,
        "agency.html",
        {
            "agency": found,
            "history": history,
            "certificates": certificates,
            "kinds": ENDPOINT_KINDS,
            "notice": request.query.get("saved"),
        },
    )


async def set_endpoint(request: web.Request) -> web.StreamResponse:
    """Change where an agency's documents go (admin)."""
    require(request, "admin")
    code = request.match_info["code"]
    form = await request.post()
    kind = str(form.get("kind", "mailbox"))
    if kind not in ENDPOINT_KINDS:
        raise DirectoryChangeRefused(f"unknown endpoint kind {kind!r}")
    endpoint = Endpoint(
        kind, str(form.get("url", "")).strip() or None, str(form.get("node", "")).strip() or None
    )
    reason = str(form.get("reason", "")).strip() or "console"
    engine = request.config_dict[appkeys.ENGINE]
    changed = await ops.set_endpoint(engine, code, endpoint, actor=actor(request), reason=reason)
    raise web.HTTPSeeOther(f"/console/directory/{changed.code}?saved=endpoint")


async def systems(request: web.Request) -> web.StreamResponse:
    """Bind or unbind a calling system to an agency (admin)."""
    require(request, "admin")
    code = request.match_info["code"]
    form = await request.post()
    system_id = str(form.get("system_id", "")).strip()
    if not system_id:
        raise DirectoryChangeRefused("no system id given")
    engine = request.config_dict[appkeys.ENGINE]
    changed = await ops.bind_system(
        engine, code, system_id, actor=actor(request), unbind=form.get("action") == "unbind"
    )
    raise web.HTTPSeeOther(f"/console/directory/{changed.code}?saved=systems")


async def import_form(request: web.Request) -> web.Response:
    """The CSV import form (admin)."""
    require(request, "admin")
    return render(request, "import.html", {"diff": None})


async def import_preview(request: web.Request) -> web.Response:
    """Read the uploaded CSV and show what importing it would change; nothing is written."""
    require(request, "admin")
    form = await request.post()
    upload = form.get("file")
    data = upload.file.read(MAX_IMPORT_BYTES + 1) if isinstance(upload, FileField) else b""
    if not data or len(data) > MAX_IMPORT_BYTES:
        raise DirectoryChangeRefused("no CSV file, or larger than 64 MiB")
    retire = form.get("retire_missing") == "1"
    parsed = ops.parse_import(data, "csv")
    engine = request.config_dict[appkeys.ENGINE]
    diff = await ops.import_agencies(
        engine, parsed, actor=actor(request), retire_missing=retire, dry_run=True
    )
    token = secrets.token_urlsafe(16)
    session_of(request).pending["import"] = (token, data, retire)
    return render(
        request,
        "import.html",
        {"diff": diff, "token": token, "retire": retire, "rows": PREVIEW_ROWS},
    )


async def import_apply(request: web.Request) -> web.StreamResponse:
    """Apply the import previewed in this session (admin)."""
    require(request, "admin")
    form = await request.post()
    pending = session_of(request).pending.pop("import", None)
    if pending is None or pending[0] != form.get("token"):
        raise DirectoryChangeRefused("no import preview to apply (preview again)")
    _token, data, retire = pending
    engine = request.config_dict[appkeys.ENGINE]
    diff = await ops.import_agencies(
        engine,
        ops.parse_import(data, "csv"),
        actor=actor(request),
        retire_missing=retire,
        reason="console import",
    )
    summary = diff.summary()
    raise web.HTTPSeeOther(
        f"/console/directory?imported={summary['added']}.{summary['changed']}.{summary['retired']}"
    )
