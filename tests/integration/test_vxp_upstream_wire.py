"""Our upstream VXP client (adapters/vxp/client.py) sends what the axis's Java SDK sends.

A capturing HTTP server on loopback records every request of ``VxpClient``; the same calls
are then made by the SDK-faithful client (tests/sdk_client.py) as a fresh service object
stamped with the same instant, and the two requests are compared field by field: method,
path, every header the SDK writes (names, case, order, values, signature) and the body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.vxp.client import VxpClient
from tests.sdk_client import VIETNAM, SdkService

pytestmark = pytest.mark.integration

SYSTEM, SECRET = "SYS-UPSTREAM", "secret-upstream-ếđ"
# Headers the HTTP libraries add on their own (transport, not the SDK's layout).
TRANSPORT = {"host", "content-length", "accept", "accept-encoding", "connection"}


@dataclass
class Captured:
    """What the capturing server saw."""

    requests: list[tuple[str, str, list[tuple[str, str]], bytes]] = field(default_factory=list)


@pytest.fixture
async def capture() -> AsyncIterator[tuple[str, Captured]]:
    seen = Captured()

    async def record(request: web.Request) -> web.Response:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]
        seen.requests.append((request.method, request.path, headers, await request.read()))
        return web.json_response(
            {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "DocId": "d1", "data": []}
            | {"count": 0}
        )

    app = web.Application()
    app.router.add_route("*", "/vxp/{op}", record)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/vxp")), seen
    finally:
        await server.close()


def _stamp(headers: list[tuple[str, str]]) -> datetime:
    text = next(v for k, v in headers if k == "XroadVnpt-timestamp")
    head, _, millis = text.partition("+")
    moment = datetime.strptime(head, "%d%m%YT%H%M%S").replace(tzinfo=VIETNAM)
    return moment.replace(microsecond=int(millis) * 1000)


def _sdk_part(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in TRANSPORT]


async def test_upstream_client_requests_match_the_sdk_field_by_field(
    capture: tuple[str, Captured],
) -> None:
    url, seen = capture
    packet = "<edXMLEnvelope>Văn bản</edXMLEnvelope>".encode()
    ours = VxpClient(url, SYSTEM, SECRET, attempts=1)
    try:
        await ours.send_edoc(packet, sender="000.00.00.G22", to=["000.00.00.H41"])
        await ours.get_received_edoc_list("edoc")
        await ours.count_receive_edoc("status")
        await ours.get_edoc("doc-1")
        await ours.update_status("doc-1", "done")
        await ours.get_agencies_list(qd20=True)
    finally:
        await ours.close()
    mine = list(seen.requests)
    seen.requests.clear()

    async with aiohttp.ClientSession() as http:
        calls = [
            lambda s: s.send_edoc(packet, sender="000.00.00.G22", to='["000.00.00.H41"]'),
            lambda s: s.get_received_edoc_list("edoc"),
            lambda s: s._count("countReceiveEdoc", "status"),
            lambda s: s.get_edoc("doc-1", _Dot()),
            lambda s: s.update_status("doc-1", "done"),
            lambda s: s.get_agencies_list_qd20(),
        ]
        for (_, _, headers, _), call in zip(mine, calls, strict=True):
            sdk = SdkService(http, url, SYSTEM, SECRET, now=_stamp(headers))
            await call(sdk)
    theirs = seen.requests

    assert len(mine) == len(theirs) == 6
    for (m_method, m_path, m_headers, m_body), (t_method, t_path, t_headers, t_body) in zip(
        mine, theirs, strict=True
    ):
        assert (m_method, m_path) == (t_method, t_path)
        assert m_method == "POST"
        assert _sdk_part(m_headers) == _sdk_part(t_headers), m_path
        assert m_body == t_body, m_path
    send_headers = dict(_sdk_part(mine[0][2]))
    assert mine[0][3] == packet + b"\r\n"
    assert send_headers["Content-Type"] == "application/octet-stream"
    assert "Content-Type" in send_headers["XroadVnpt-sign-header-key"].split(";")
    assert dict(_sdk_part(mine[4][2]))["XroadVnpt-docid"] == "doc-1"


class _Dot:
    """``filePath`` as our client sends it (``.``); the SDK client never writes here because
    the capturing server's answer has no ``data``."""

    def __str__(self) -> str:
        return "."

    def __truediv__(self, other: str) -> _Dot:
        return self
