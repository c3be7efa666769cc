"""The one edge: every error class has an answer at every door, and a slow body times out."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import edge
from adapters.console.web import CsrfRefused, LoginRequired, PageNotFound, RateLimited, RoleRefused
from adapters.credentials import set_caller
from adapters.rest.admin_errors import BadRequest
from adapters.soap.envelope import SoapVersionError, UnknownAction
from adapters.soap.refusals import report_error
from adapters.vxp.errors import SYSTEM_ERROR, VXP_ERROR_CODES, vxp_error_code
from edxml import errors as edxml
from gateway import appkeys
from gateway import errors as core
from gateway.audit import batch as audit_batch
from gateway.audit import chain as audit
from gateway.credentials import operators, registry
from gateway.legal import errors as legal
from gateway.store.database import create_engine, create_schema

MODULES: tuple[ModuleType, ...] = (core, legal, registry, edxml, operators)
DOOR_ERRORS = (BadRequest, SoapVersionError, UnknownAction)
SERVER_SIDE = registry.CredentialsKeyError
CONSOLE_ERRORS = (CsrfRefused, RoleRefused, LoginRequired, RateLimited, PageNotFound)


def concrete_errors() -> list[type[edxml.BilingualError]]:
    """Every error class a door may have to answer (core, legal, credentials, edXML, doors)."""
    found = {
        cls
        for module in MODULES
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, edxml.BilingualError) and cls is not edxml.BilingualError
    }
    return sorted(found | set(DOOR_ERRORS), key=lambda c: (c.__module__, c.__name__))


def instance(cls: type[edxml.BilingualError]) -> edxml.BilingualError:
    return cls("x")


def test_the_corpus_of_errors_is_not_empty() -> None:
    names = {c.__name__ for c in concrete_errors()}
    assert {"AuthError", "MaintenanceMode", "RequestTimeout", "SignatureWrapping"} <= names
    assert {"MessageGone", "SystemUnknown", "BadRequest"} <= names
    assert len(names) > 60


@pytest.mark.parametrize("cls", concrete_errors(), ids=lambda c: c.__name__)
def test_every_error_class_has_its_answer_at_the_json_doors(
    cls: type[edxml.BilingualError],
) -> None:
    """REST ``/v1``, admin and ops render through one class-keyed table: the status a class
    declares is the status it gets, and a refusal is never answered 500."""
    error = instance(cls)
    source = edge.HTTP_STATUS.source(cls)
    assert source is not None and source is not BaseException, cls
    status = edge.HTTP_STATUS[error]
    if isinstance(error, core.GatewayError):
        assert status == cls.http_status, (cls, status)  # the table and the class agree
    else:
        assert status == core.http_status_for(error)
    if status >= 500:  # only the gateway's own trouble, never a caller's mistake
        assert issubclass(cls, core.Unavailable) or cls in (core.GatewayError, SERVER_SIDE), cls
    response = edge.json_error(error)
    assert response.status == status


@pytest.mark.parametrize("cls", concrete_errors(), ids=lambda c: c.__name__)
def test_every_error_class_has_its_answer_at_the_protocol_doors(
    cls: type[edxml.BilingualError],
) -> None:
    """VXP (ErrorCode table by class) and the hub (Report Error with the stable code)."""
    error = instance(cls)
    vxp = next(c for c in cls.__mro__ if c in VXP_ERROR_CODES)
    assert vxp is not BaseException, cls  # a refusal never falls to the catch-all
    if isinstance(error, core.AuthError):
        assert vxp_error_code(error) == "15"
    if cls.code.startswith(("EDXML_", "SIGNATURE_")) and not isinstance(error, edxml.LimitExceeded):
        assert vxp_error_code(error) not in ("0", SYSTEM_ERROR)
    assert report_error(error).code == cls.code


def test_console_refusals_are_answered_in_four_hundreds() -> None:
    for cls in CONSOLE_ERRORS:
        assert 400 <= cls.http_status < 500


def test_a_new_subclass_inherits_its_parents_answer() -> None:
    class Newcomer(core.AgencyInactive):
        code = "NEWCOMER"

    assert edge.HTTP_STATUS[Newcomer()] == 422
    assert vxp_error_code(Newcomer()) == vxp_error_code(core.AgencyInactive())


# -- the read timeout, over a real socket -------------------------------------------------


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'edge.db'}")
    await create_schema(engine)
    yield engine
    await engine.dispose()


async def test_a_slow_body_is_refused_408_and_audited_once(engine: AsyncEngine) -> None:
    door = edge.Door("rest")

    async def upload(request: web.Request) -> web.Response:
        set_caller(request, "SYS-SLOW")
        body = await edge.read_body(request, 1024, timeout_s=0.3)
        return web.json_response({"size": len(body)})

    app = web.Application(middlewares=[door.middleware()])
    app[appkeys.ENGINE] = engine
    app.router.add_post("/upload", upload)
    server = TestServer(app)
    await server.start_server()
    try:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        await writer.drain()
        loop = asyncio.get_running_loop()
        started = loop.time()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        elapsed = loop.time() - started
        writer.close()
    finally:
        await server.close()
    assert head.startswith(b"HTTP/1.1 408"), head
    assert 0.25 < elapsed < 3
    await audit_batch.flush(engine)
    async with engine.connect() as conn:
        [record] = [e for e in await audit.entries(conn) if e.event == "rejected"]
    assert (record.outcome, record.actor) == ("REQUEST_TIMEOUT", "SYS-SLOW")
    assert record.detail is not None and record.detail["door"] == "rest"
