"""Refusals only some doors can express, each leaving exactly one audit record.

Freshness and replay (REST, VXP), unknown messages (REST, admin), protocol envelopes (VXP
headers and methods, SOAP actions and bodies), the hub's REST v2 and the maintenance switch:
each case is sent alone in its own time window against a live gateway process, and
``edoc-gateway audit show --since T --json`` must list exactly one record in each window,
naming the code the door answered.
The ten kinds every door shares are in ``test_refusals_every_door.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from gateway.credentials.auth import sign_request
from tests.hub_client import HubClient, credentials, envelope
from tests.integration.door_node import SETTLE_S, Node, at_of, audit_since, door_node
from tests.services import RabbitMQ
from tests.vxp_client import VxpTestClient, sdk_hash_file
from tests.world import ADMIN_TOKEN, G22, SECRETS, document

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node(rabbitmq: RabbitMQ, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with door_node(rabbitmq, tmp_path_factory.mktemp("doors-own")) as started:
        yield started


OWN_CASES: dict[str, str] = {
    "rest-replayed-request": "AUTH_REPLAY",
    "rest-stale-timestamp": "AUTH_TIMESTAMP",
    "rest-anonymous": "AUTH_FAILED",
    "rest-non-ascii-system": "AUTH_FAILED",
    "rest-cursor-out-of-range": "REQUEST_INVALID",
    "rest-token-minting-a-token": "AUTH_FAILED",
    "vxp-replayed-request": "AUTH_REPLAY",
    "vxp-stale-timestamp": "AUTH_TIMESTAMP",
    "vxp-unknown-system": "AUTH_FAILED",
    "vxp-unsigned": "AUTH_FAILED",
    "vxp-unknown-document": "NOT_FOUND",
    "vxp-register-agency": "FORBIDDEN",
    "vxp-file-hash-mismatch": "FILE_HASH_MISMATCH",
    "vxp-method-not-allowed": "REQUEST_INVALID",
    "soap-unknown-action": "SOAP_ACTION_UNKNOWN",
    "soap-empty-token": "AUTH_FAILED",
    "soap-unknown-document": "NOT_FOUND",
    "soap-not-xml": "EDXML_NOT_WELL_FORMED",
    "hub-rest-wrong-token": "AUTH_FAILED",
    "hub-rest-unknown-document": "NOT_FOUND",
    "maintenance-non-ascii-token": "AUTH_FAILED",
    "rest-unknown-message": "NOT_FOUND",
    "rest-ack-of-unknown-message": "NOT_FOUND",
    "admin-non-ascii-token": "AUTH_FAILED",
    "admin-unknown-agency": "CODE_UNKNOWN",
    "admin-takedown-of-unknown-message": "NOT_FOUND",
}
"""Refusals only some doors can express (freshness, replay, protocol envelopes)."""


def _code_of(answer: Any) -> str:
    """The stable code in whatever form the door answered."""
    if hasattr(answer, "error_codes"):  # a hub Report
        assert not answer.ok
        return str(answer.error_codes[0])
    if isinstance(answer, dict):  # a VXP answer
        assert answer["status"] == "FAIL", answer
        return str(answer["code"])
    status, body = answer
    data = json.loads(body)
    if "errors" in data:  # hub REST v2: 401 for credentials, otherwise 200 and "9999"
        assert data["code"] == "9999" and status in (200, 401), (status, body)
        return str(data["errors"][0]["code"])
    assert 400 <= status < 500, (status, body)
    return str(data["error"]["code"])


async def test_each_door_audits_its_own_refusals_exactly_once(node: Node) -> None:
    url, g22 = node.url, SECRETS["SYS-G22"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:

        async def raw(method: str, path: str, headers: Any = None, data: Any = None) -> Any:
            async with http.request(method, url + path, headers=headers, data=data) as r:
                return r.status, await r.read()

        def signed(method: str, path: str, **kw: Any) -> dict[str, str]:
            return sign_request("SYS-G22", g22, method, path, **kw)

        inbox = signed("GET", "/v1/inbox")
        await raw("GET", "/v1/inbox", inbox)  # seen once: the replay below is refused
        stale = signed("GET", "/v1/inbox", timestamp=int(time.time()) - 3600)
        far = "/v1/inbox?after=" + "9" * 40
        tokens = signed("POST", "/v1/tokens")
        token = json.loads((await raw("POST", "/v1/tokens", tokens))[1])["token"]
        vxp_g22 = VxpTestClient(http, url + "/vxp", "SYS-G22", g22)
        strict = VxpTestClient(http, url + "/vxp", "SYS-STRICT", SECRETS["SYS-STRICT"])
        listing = strict.prepare("getReceivedEdocList", {"servicetype": "eDoc"})
        assert (await strict.send(listing))["status"] == "OK"
        stranger = VxpTestClient(http, url + "/vxp", "SYS-NOPE", "x")
        packet = document(node.number())
        sending = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"}
        hub = HubClient(http, url + "/services/eDoc", G22, g22)
        plain_hub = HubClient(http, url + "/services/eDoc", G22, g22, multipart=False)
        hub_rest = "/EdocService"
        latin = "Bearer ế".encode().decode("latin-1")
        unknown, ack = "/v1/messages/nope", "/v1/messages/nope/ack"
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "rest-replayed-request": lambda: raw("GET", "/v1/inbox", inbox),
            "rest-stale-timestamp": lambda: raw("GET", "/v1/inbox", stale),
            "rest-anonymous": lambda: raw("GET", "/v1/inbox"),
            "rest-non-ascii-system": lambda: raw(
                "GET", "/v1/inbox", {"X-Edoc-System": "SYS-Ế".encode().decode("latin-1")}
            ),
            "rest-cursor-out-of-range": lambda: raw("GET", far, signed("GET", far)),
            "rest-token-minting-a-token": lambda: raw(
                "POST", "/v1/tokens", {"Authorization": f"Bearer {token}"}
            ),
            "vxp-replayed-request": lambda: strict.send(listing),
            "vxp-stale-timestamp": lambda: vxp_g22.call(
                "getReceivedEdocList", {"servicetype": "eDoc"}, timestamp="2020-01-01T00:00:00"
            ),
            "vxp-unknown-system": lambda: stranger.call(
                "getReceivedEdocList", {"servicetype": "eDoc"}
            ),
            "vxp-unsigned": lambda: _vxp_json(raw("POST", "/vxp/getReceivedEdocList")),
            "vxp-unknown-document": lambda: vxp_g22.call(
                "getEdoc", {"docId": "nope", "servicetype": "eDoc"}
            ),
            "vxp-register-agency": lambda: vxp_g22.call(
                "registerAgency",
                {"Content-Type": "application/json"},
                body='{"code": "000.00.00.H50", "name": "Giả mạo"}'.encode(),
            ),
            "vxp-file-hash-mismatch": lambda: vxp_g22.call(
                "sendEdoc", {**sending, "hash-file": sdk_hash_file(b"other")}, body=packet
            ),
            "vxp-method-not-allowed": lambda: _vxp_json(raw("PUT", "/vxp/getReceivedEdocList")),
            "soap-unknown-action": lambda: hub.post(
                "DropTables", envelope(credentials("GetOrganizations", G22, g22))
            ),
            "soap-empty-token": lambda: hub.post(
                "GetOrganizations", envelope(credentials("GetOrganizations", G22, ""))
            ),
            "soap-unknown-document": lambda: hub.get_document(987654),
            "soap-not-xml": lambda: plain_hub.post("GetOrganizations", b"\xff\xfe not xml"),
            "hub-rest-wrong-token": lambda: raw(
                "GET", hub_rest + "/getPendingDocIds", {"organid": G22, "authorization": "nope"}
            ),
            "hub-rest-unknown-document": lambda: raw(
                "POST",
                hub_rest + "/getDocument",
                {"organid": G22, "authorization": g22, "docid": "987654"},
            ),
            "maintenance-non-ascii-token": lambda: raw(
                "POST", "/maintenance", {"Authorization": latin}
            ),
            "rest-unknown-message": lambda: raw("GET", unknown, signed("GET", unknown)),
            "rest-ack-of-unknown-message": lambda: raw("POST", ack, signed("POST", ack)),
            "admin-non-ascii-token": lambda: raw(
                "GET", "/admin/v1/agencies", {"Authorization": latin}
            ),
            "admin-unknown-agency": lambda: raw("GET", "/admin/v1/agencies/000.00.00.H50", admin),
            "admin-takedown-of-unknown-message": lambda: raw(
                "POST", "/admin/v1/messages/nope/takedown", admin, b'{"reason": "x"}'
            ),
        }
        assert set(calls) == set(OWN_CASES)
        began = datetime.now(UTC)
        windows: list[tuple[str, datetime, datetime, str]] = []
        for name, call in calls.items():
            await asyncio.sleep(SETTLE_S)
            start = datetime.now(UTC)
            code = _code_of(await call())
            await asyncio.sleep(SETTLE_S)
            windows.append((name, start, datetime.now(UTC), code))
    records = audit_since(node.config, began)
    problems = []
    for name, start, end, code in windows:
        if code != OWN_CASES[name]:
            problems.append(f"{name}: answered {code}, not {OWN_CASES[name]}")
        inside = [f"{r['event']}:{r['outcome']}" for r in records if start <= at_of(r) <= end]
        if inside != [f"rejected:{code}"]:
            problems.append(f"{name}: audit records {inside}")
    assert not problems, "\n".join(problems)


async def _vxp_json(answer: Awaitable[tuple[int, bytes]]) -> dict[str, Any]:
    status, body = await answer
    assert status == 200  # VXP answers every refusal with HTTP 200 and a FAIL body
    return dict(json.loads(body))
