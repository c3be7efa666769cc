"""What the VXP handlers share: the core and directory they call, the calling systems,
limits, and small request helpers. Given to ``build_vxp_app`` or found in the parent
application through ``gateway.appkeys`` on the first request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiohttp import web

from adapters.bodies import read_bounded
from adapters.vxp.accounts import SystemAccounts
from adapters.vxp.refusals import AuditChainSink, RefusalSink
from adapters.vxp.signing import DEFAULT_SKEW, ReplayGuard, SignedRequest
from gateway import appkeys
from gateway.credentials.auth import Caller
from gateway.errors import RequestInvalid
from gateway.ports import Core


class AgencyRegistry(Protocol):
    """Optional writer behind ``registerAgency`` / ``deleteAgency`` (the directory's owner)."""

    async def register_agency(self, caller: Caller, record: Mapping[str, Any]) -> None:
        """Register or update an agency record on behalf of ``caller``."""
        ...

    async def delete_agency(self, caller: Caller, code: str) -> None:
        """Remove (deactivate) an agency on behalf of ``caller``."""
        ...


@dataclass
class VxpContext:
    """What the handlers use: given to :func:`build_vxp_app` or found in the parent app."""

    core: Core
    directory: Any
    accounts: SystemAccounts
    registry: AgencyRegistry | None
    skew: timedelta
    max_bytes: int
    clock: Callable[[], datetime] | None
    guard: ReplayGuard
    sink: RefusalSink
    engine: Any = None
    node_code: str = ""


STATE: web.AppKey[dict[str, Any]] = web.AppKey("vxp_state", dict)


def context_of(request: web.Request) -> VxpContext:
    """Return the request's VXP context, resolving it from the parent app on first use."""
    state = request.app[STATE]
    context: VxpContext | None = state.get("context")
    if context is None:
        given = state["given"]
        settings = request.config_dict.get(appkeys.SETTINGS)
        limits = getattr(settings, "limits", None)
        skew = given["skew"] or (timedelta(seconds=limits.clock_skew_s) if limits else DEFAULT_SKEW)
        systems = given["systems"]
        if systems is None:
            systems = settings.systems if settings is not None else ()
        core = given["core"] if given["core"] is not None else request.config_dict[appkeys.GATEWAY]
        engine = request.config_dict.get(appkeys.ENGINE)
        sink = given.get("sink") or AuditChainSink(
            lambda: engine if engine is not None else getattr(core, "engine", None)
        )
        context = VxpContext(
            core=core,
            directory=(
                given["directory"]
                if given["directory"] is not None
                else request.config_dict.get(appkeys.DIRECTORY)
            ),
            accounts=SystemAccounts(systems),
            registry=given["registry"],
            skew=skew,
            max_bytes=given["max"] or (limits.max_packet_bytes if limits else 150 * 2**20),
            clock=given["clock"],
            guard=(
                ReplayGuard(window=skew * 2)
                if given.get("replays") is None
                else ReplayGuard(cache=given["replays"])
            ),
            sink=sink,
            engine=engine,
            node_code=getattr(getattr(settings, "node", None), "code", "") or "",
        )
        state["context"] = context
    return context


def required(signed: SignedRequest, name: str) -> str:
    """Return a signed parameter or raise ``RequestInvalid`` when it is missing or empty."""
    value = signed.get(name)
    if not value:
        raise RequestInvalid(f"header XroadVnpt-{name} is required")
    return value


async def read_body(request: web.Request) -> bytes:
    """Read the request body, refusing more than the packet limit while reading."""
    return await read_bounded(request, context_of(request).max_bytes)
