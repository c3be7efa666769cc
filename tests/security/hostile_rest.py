"""The native REST and admin doors of the hostile HTTP corpus: their cases and how each
is sent (signed requests, replays, stale timestamps, agency credentials at admin paths).
"""

from __future__ import annotations

import time

import aiohttp

from gateway.credentials.auth import sign_request
from tests.security.hostile_node import Case, Node, Outcome, json_body
from tests.security.hostile_packets import PACKET_CASES, packet_for
from tests.world import H41, SECRETS, document

REST_CASES: list[Case] = [
    *(Case("rest", n, c, s) for n, c, s in PACKET_CASES),
    Case("rest", "tampered-request-signature", "AUTH_FAILED"),
    Case("rest", "replayed-request", "AUTH_REPLAY"),
    Case("rest", "stale-timestamp", "AUTH_TIMESTAMP"),
    Case("rest", "anonymous", "AUTH_FAILED"),
    Case("rest", "path-traversal-id", "NOT_FOUND"),
    Case("admin", "agency-signed-request", "AUTH_FAILED"),
    Case("admin", "agency-bearer-token", "AUTH_FAILED"),
    Case("admin", "maintenance-with-agency-token", "AUTH_FAILED"),
]


async def run_rest(http: aiohttp.ClientSession, node: Node, case: Case) -> Outcome:
    """Send one hostile native REST request; the refusal as the JSON error gave it."""
    path, method, body, system = "/v1/messages", "POST", b"", case.system
    headers: dict[str, str] = {}
    packet: bytes | None = None
    if case.name == "tampered-request-signature":
        body = document("5100")
        headers = sign_request(system, SECRETS[system], method, path, body)
        body = body.replace(b"5100", b"5101")  # the signature covered other bytes
    elif case.name == "replayed-request":
        method, path = "GET", "/v1/inbox"
        headers = sign_request(system, SECRETS[system], method, path)
        async with http.get(node.url + path, headers=headers) as first:
            assert first.status == 200
    elif case.name == "stale-timestamp":
        method, path = "GET", "/v1/inbox"
        stale = int(time.time()) - 3600
        headers = sign_request(system, SECRETS[system], method, path, timestamp=stale)
    elif case.name == "anonymous":
        method, path = "GET", "/v1/inbox"
    elif case.name == "path-traversal-id":
        method, path = "GET", "/v1/messages/..%2F..%2F..%2Fetc%2Fpasswd"
        headers = sign_request(system, SECRETS[system], method, path)
    else:
        body = packet = packet_for(node, case.name)
        headers = sign_request(system, SECRETS[system], method, path, body)
    async with http.request(method, node.url + path, data=body, headers=headers) as response:
        error = (await json_body(response))["error"]
        return Outcome(
            error["code"], response.status, packet, (error["message_vi"], error["message_en"])
        )


async def run_admin(http: aiohttp.ClientSession, node: Node, case: Case) -> Outcome:
    """Call an admin or maintenance path with agency credentials; the JSON refusal."""
    if case.name == "agency-signed-request":
        path = "/admin/v1/agencies"
        headers = sign_request("SYS-G22", SECRETS["SYS-G22"], "GET", path)
        call = http.get(node.url + path, headers=headers)
    else:
        token_path = "/v1/tokens"
        auth = sign_request("SYS-G22", SECRETS["SYS-G22"], "POST", token_path)
        async with http.post(node.url + token_path, headers=auth) as issued:
            token = (await json_body(issued))["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        if case.name == "agency-bearer-token":
            call = http.put(
                node.url + f"/admin/v1/agencies/{H41}",
                json={"name": "Chiếm quyền", "status": "dissolved"},
                headers=bearer,
            )
        else:
            call = http.post(node.url + "/maintenance", json={"reason": "x"}, headers=bearer)
    async with call as response:
        error = (await json_body(response))["error"]
        return Outcome(
            error["code"], response.status, None, (error["message_vi"], error["message_en"])
        )
