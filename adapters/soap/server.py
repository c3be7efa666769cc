"""The SOAP 1.1 / 1.2 endpoint for older provincial hubs (static WSDL, document/literal).

``GET /soap?wsdl`` serves ``schemas/edoc-gateway.wsdl`` with its addresses set to where it was
fetched from; ``POST /soap`` dispatches on the Body child's QName to a short handler that calls
the core. Every failure becomes a SOAP fault of the request's version, never a stack trace:
refusals of the core and of ``edxml`` map through :data:`SOAP_FAULTS`; anything unexpected is
logged and answered with a generic ``Server``/``Receiver`` fault.

Authentication: a WS-Security UsernameToken in the SOAP Header (Username = system id,
Password = secret) or the HTTP headers ``X-SystemId`` / ``X-SecretKey``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from lxml import etree

from adapters.bodies import read_bounded
from adapters.soap.context import STATE, context_of
from adapters.soap.envelope import (
    SoapFault,
    SoapRequest,
    SoapVersion,
    fault,
    parse_request,
    response,
)
from adapters.soap.operations import OPERATIONS
from adapters.vxp.accounts import SystemLike
from adapters.vxp.context import Core
from edxml.errors import EdxmlError
from gateway.auth import Caller
from gateway.errors import AuthError, GatewayError

log = structlog.get_logger("adapters.soap")

WSDL_PATH = Path(__file__).resolve().parents[2] / "schemas" / "edoc-gateway.wsdl"
_PLACEHOLDER = b'location="http://localhost/soap"'

SERVER_SIDE_CODES = frozenset(
    {"GATEWAY_ERROR", "UNAVAILABLE", "STORE_ERROR", "BROKER_ERROR", "MAINTENANCE", "OVERLOADED"}
)
"""Core codes answered as ``Server`` (1.1) / ``Receiver`` (1.2) faults: retrying may help.
Every other refusal is the caller's (``Client`` / ``Sender``)."""


def soap_fault_for(error: BaseException) -> SoapFault:
    """Map a core or edXML refusal (or anything else) to the SOAP fault that answers it."""
    if isinstance(error, SoapFault):
        return error
    if isinstance(error, GatewayError | EdxmlError):
        return SoapFault(
            error.code,
            error.text_vi,
            error.text_en,
            sender=error.code not in SERVER_SIDE_CODES,
            path=error.path,
        )
    return SoapFault("GATEWAY_ERROR", "Lỗi hệ thống", "Internal error", sender=False)


def build_soap_app(
    gateway: Core | None = None,
    *,
    systems: Iterable[SystemLike] | None = None,
    directory: Any = None,
    max_packet_bytes: int | None = None,
    wsdl_path: Path = WSDL_PATH,
) -> web.Application:
    """Build the SOAP sub-application (mount it at ``/soap``).

    Anything not given is taken, on the first request, from the parent application through
    ``gateway.appkeys`` (``GATEWAY``, ``DIRECTORY``, ``SETTINGS``).
    """
    app = web.Application()
    app[STATE] = {
        "given": {
            "core": gateway,
            "systems": systems,
            "directory": directory,
            "max": max_packet_bytes,
            "wsdl": Path(wsdl_path).read_bytes(),
        }
    }
    app.router.add_route("GET", "", serve_wsdl, name="wsdl")
    app.router.add_route("POST", "", dispatch, name="soap")
    return app


async def serve_wsdl(request: web.Request) -> web.Response:
    """Serve the WSDL with its ``soap:address`` pointing at this endpoint."""
    if "wsdl" not in {key.lower() for key in request.query}:
        raise web.HTTPNotFound(text="GET ?wsdl for the service description")
    address = str(request.url.with_query(None))
    text = context_of(request).wsdl.replace(
        _PLACEHOLDER, b'location="' + _xml_attr(address).encode("utf-8") + b'"'
    )
    return web.Response(body=text, content_type="text/xml", charset="utf-8")


def _xml_attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


async def dispatch(request: web.Request) -> web.Response:
    """Parse the envelope, authenticate, run the operation, answer a response or a fault."""
    version = SoapVersion.V11
    try:
        body = await _read(request)
        soap = parse_request(body, request.headers.get("Content-Type", ""))
        version = soap.version
        handler = OPERATIONS.get(etree.QName(soap.operation).text)
        if handler is None:
            raise SoapFault(
                "SOAP_UNKNOWN_OPERATION",
                "Thao tác không được hỗ trợ",
                f"Unknown operation {etree.QName(soap.operation).text}",
            )
        caller = _authenticate(request, soap)
        children = await handler(request, soap, caller)
        payload = response(version, soap.name, children)
        return _reply(payload, version, 200)
    except (SoapFault, GatewayError, EdxmlError) as exc:
        error = soap_fault_for(exc)
        version = error.version or version
        log.info("soap.fault", code=error.code, detail=str(exc))
    except Exception:
        log.exception("soap.error")
        error = soap_fault_for(RuntimeError())
    status = 400 if version is SoapVersion.V12 and error.sender else 500
    return _reply(fault(version, error), version, status)


def _reply(payload: bytes, version: SoapVersion, status: int) -> web.Response:
    return web.Response(
        body=payload, status=status, content_type=version.content_type, charset="utf-8"
    )


async def _read(request: web.Request) -> bytes:
    return await read_bounded(request, context_of(request).limit)


def _authenticate(request: web.Request, soap: SoapRequest) -> Caller:
    accounts = context_of(request).accounts
    token = soap.username_token()
    if token is not None:
        return accounts.check_secret(*token)
    system_id = request.headers.get("X-SystemId")
    secret = request.headers.get("X-SecretKey")
    if system_id and secret:
        return accounts.check_secret(system_id, secret)
    raise AuthError("a WS-Security UsernameToken or X-SystemId/X-SecretKey is required")
