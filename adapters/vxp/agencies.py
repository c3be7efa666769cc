"""VXP directory operations: ``getAgenciesList``, ``getAgenciesListQD20``,
``getSynchronizeUnit``, ``registerAgency`` and ``deleteAgency``.

``getSynchronizeUnit`` draws ``version`` and ``modifyDate`` from the directory's change log
(``directory_changes``): the version of the last change set that touched each agency and its
time. A signed ``version`` parameter asks only for agencies changed after that version.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from adapters.vxp import errors as vxp
from adapters.vxp.context import AgencyRegistry, context_of, read_body
from adapters.vxp.signing import VIETNAM, SignedRequest
from gateway.credentials.auth import Caller
from gateway.directory.tables import DirectoryChangeRow, utc
from gateway.errors import Forbidden, RequestInvalid

RETIRED = ("dissolved", "merged")


async def get_agencies_list(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``getAgenciesList``: the directory's agencies with their old (QCVN 102) codes."""
    return vxp.ok_body(data=[_agency_record(a, old_code_key="oldCode") for a in _agencies(request)])


async def get_agencies_list_qd20(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``getAgenciesListQD20``: the same list keyed by QĐ 20 code, ``code102`` the old one."""
    return vxp.ok_body(data=[_agency_record(a, old_code_key="code102") for a in _agencies(request)])


def _agency_record(agency: Any, *, old_code_key: str) -> dict[str, str]:
    # The two SDK operations differ only in the name of the old-code field.
    return {
        "id": agency.code,
        "code": agency.code,
        "name": agency.name,
        "mail": agency.mail or "",
        old_code_key: agency.old_code or "",
        "pid": agency.parent_code or "",
        "status": agency.status,
    }


async def get_synchronize_unit(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``getSynchronizeUnit``: every agency (retired ones ``deleted``) with the version and
    time of its last directory change; ``version`` filters to later changes."""
    context = context_of(request)
    since_text = signed.get("version") or ""
    since = int(since_text) if since_text.isdigit() else None
    changes = await _last_changes(context.engine or getattr(context.directory, "engine", None))
    units = []
    for agency in _all_agencies(request):
        version, at = changes.get(agency.code, (0, None))
        if since is not None and version <= since:
            continue
        endpoint = getattr(agency, "endpoint", None)
        peer = getattr(endpoint, "kind", "") == "peer"
        center = getattr(endpoint, "node", None) if peer else None
        units.append(
            {
                "id": agency.code,
                "code": agency.code,
                "name": agency.name,
                "mail": agency.mail or "",
                "pid": agency.parent_code or "",
                "centerCode": center or context.node_code,
                "isAgency": True,
                "deleted": agency.status in RETIRED,
                "version": version,
                "modifyDate": _modify_date(at),
            }
        )
    return vxp.ok_body(data=units)


async def _last_changes(engine: Any) -> dict[str, tuple[int, datetime | None]]:
    if engine is None:
        return {}
    table = DirectoryChangeRow.__table__
    query = select(table.c.code, func.max(table.c.version), func.max(table.c.at)).group_by(
        table.c.code
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {code: (int(version or 0), utc(at)) for code, version, at in rows}


def _modify_date(at: datetime | None) -> str:
    return at.astimezone(VIETNAM).strftime("%Y/%m/%d %H:%M:%S") if at is not None else ""


def _all_agencies(request: web.Request) -> list[Any]:
    try:
        return list(context_of(request).directory)
    except TypeError as exc:
        raise RequestInvalid("the directory cannot list its agencies") from exc


def _agencies(request: web.Request) -> list[Any]:
    directory = context_of(request).directory
    try:
        agencies = list(directory)
    except TypeError as exc:
        raise RequestInvalid("the directory cannot list its agencies") from exc
    return [a for a in agencies if getattr(a, "status", "active") != "dissolved"]


async def register_agency(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``registerAgency``: the JSON body describes the agency (code, name, pid, mail…)."""
    registry = _registry(request)
    try:
        record = json.loads(await read_body(request) or b"{}")
    except ValueError as exc:
        raise RequestInvalid("registerAgency expects a JSON object body") from exc
    if not isinstance(record, dict) or not record.get("code"):
        raise RequestInvalid("registerAgency expects a JSON object with at least code and name")
    await registry.register_agency(caller, record)
    return vxp.ok_body()


async def delete_agency(
    request: web.Request, signed: SignedRequest, caller: Caller
) -> dict[str, Any]:
    """``deleteAgency``: the ``AgencyCode`` header names the agency to remove."""
    registry = _registry(request)
    code = signed.get("AgencyCode") or signed.get("code")
    if not code:
        raise RequestInvalid("deleteAgency needs the code header")
    await registry.delete_agency(caller, code)
    return vxp.ok_body()


def _registry(request: web.Request) -> AgencyRegistry:
    registry = context_of(request).registry
    if registry is None:
        raise Forbidden("agency registration is not enabled on this node")
    return registry  # type: ignore[no-any-return]
