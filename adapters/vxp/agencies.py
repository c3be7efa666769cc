"""VXP directory operations: ``getAgenciesList``, ``getAgenciesListQD20``,
``registerAgency`` and ``deleteAgency``."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from adapters.vxp import errors as vxp
from adapters.vxp.context import AgencyRegistry, context_of, read_body
from adapters.vxp.signing import SignedRequest
from gateway.auth import Caller
from gateway.errors import Forbidden, RequestInvalid


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
    """``deleteAgency``: the ``code`` header names the agency to remove."""
    registry = _registry(request)
    code = signed.get("code") or signed.get("agencyCode")
    if not code:
        raise RequestInvalid("deleteAgency needs the code header")
    await registry.delete_agency(caller, code)
    return vxp.ok_body()


def _registry(request: web.Request) -> AgencyRegistry:
    registry = context_of(request).registry
    if registry is None:
        raise Forbidden("agency registration is not enabled on this node")
    return registry  # type: ignore[no-any-return]
