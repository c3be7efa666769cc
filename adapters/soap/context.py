"""What the hub doors share: the core, directory, store engine, credentials and limits.

Given to ``build_soap_app`` / ``build_hub_rest_app`` or found in the parent application
through ``gateway.appkeys`` on the first request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

from adapters.soap.credentials import HubCredentials
from adapters.soap.lgsp import LgspTrust, load_trust
from gateway import appkeys
from gateway.ports import Core

STATE: web.AppKey[dict[str, Any]] = web.AppKey("hub_state", dict)
ENVELOPE_LIMIT = 4 * 2**20
"""Largest SOAP envelope (the root part) read before the caller is authenticated: hub
envelopes carry headers and a manifest, the attachments travel in their own MIME parts."""


@dataclass
class HubContext:
    """What the handlers use."""

    core: Core
    directory: Any
    credentials: HubCredentials
    engine: Any
    limit: int


def _lgsp(settings: Any) -> LgspTrust | None:
    hub = getattr(settings, "hub", None)
    if hub is None or not hub.lgsp_trust_jwt or hub.lgsp_certificate is None:
        return None
    return load_trust(
        hub.lgsp_certificate,
        hub.lgsp_applications,
        claim=hub.lgsp_claim,
        issuer=hub.lgsp_issuer,
        required=hub.lgsp_required,
    )


def context_of(request: web.Request) -> HubContext:
    """Return the request's hub context, resolving it from the parent app on first use."""
    state = request.app[STATE]
    context: HubContext | None = state.get("context")
    if context is None:
        given = state["given"]
        settings = request.config_dict.get(appkeys.SETTINGS)
        limits = getattr(settings, "limits", None)
        systems = given["systems"]
        if systems is None:
            systems = settings.systems if settings is not None else ()
        directory = given["directory"]
        if directory is None:
            directory = request.config_dict.get(appkeys.DIRECTORY)
        max_bytes = given["max"] or (limits.max_packet_bytes if limits else 150 * 2**20)
        core = given["core"]
        context = HubContext(
            core=cast(Core, core if core is not None else request.config_dict[appkeys.GATEWAY]),
            directory=directory,
            credentials=HubCredentials(
                systems,
                directory,
                request.config_dict.get(appkeys.AUTHENTICATOR),
                given["lgsp"] if given["lgsp"] is not None else _lgsp(settings),
            ),
            engine=request.config_dict.get(appkeys.ENGINE),
            # Attachments travel raw in MIME parts; leave room for the envelope and framing.
            limit=max_bytes + ENVELOPE_LIMIT,
        )
        state["context"] = context
    return context


def given(core: Any, systems: Any, directory: Any, max_bytes: Any, lgsp: Any) -> dict[str, Any]:
    """The state a builder stores for :func:`context_of`."""
    return {
        "given": {
            "core": core,
            "systems": systems,
            "directory": directory,
            "max": max_bytes,
            "lgsp": lgsp,
        }
    }
