"""What the SOAP handlers share: the core, the directory, the calling systems, limits and
the WSDL text; given to ``build_soap_app`` or found in the parent application through
``gateway.appkeys`` on the first request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from adapters.vxp.accounts import SystemAccounts
from adapters.vxp.context import Core
from gateway import appkeys

STATE: web.AppKey[dict[str, Any]] = web.AppKey("soap_state", dict)


@dataclass
class SoapContext:
    """What the handlers use: given to :func:`build_soap_app` or found in the parent app."""

    core: Core
    directory: Any
    accounts: SystemAccounts
    limit: int
    wsdl: bytes


def context_of(request: web.Request) -> SoapContext:
    """Return the request's SOAP context, resolving it from the parent app on first use."""
    state = request.app[STATE]
    context: SoapContext | None = state.get("context")
    if context is None:
        given = state["given"]
        settings = request.config_dict.get(appkeys.SETTINGS)
        limits = getattr(settings, "limits", None)
        systems = given["systems"]
        if systems is None:
            systems = settings.systems if settings is not None else ()
        max_bytes = given["max"] or (limits.max_packet_bytes if limits else 150 * 2**20)
        context = SoapContext(
            core=given["core"]
            if given["core"] is not None
            else request.config_dict[appkeys.GATEWAY],
            directory=(
                given["directory"]
                if given["directory"] is not None
                else request.config_dict.get(appkeys.DIRECTORY)
            ),
            accounts=SystemAccounts(systems),
            # base64 grows the packet by 4/3, plus the envelope around it.
            limit=max_bytes * 4 // 3 + 64 * 1024,
            wsdl=given["wsdl"],
        )
        state["context"] = context
    return context
