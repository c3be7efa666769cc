"""The VXP door of the hostile HTTP corpus: which packets it is sent, its own tricks
(tampered hash header, replay, file hash, agency registration) and how each is sent.
"""

from __future__ import annotations

import json

import aiohttp

from tests.security.hostile_node import Case, Node, Outcome
from tests.security.hostile_packets import PACKET_CASES, STRICT, packet_for
from tests.vxp_client import VxpTestClient, sdk_hash_file
from tests.world import G22, SECRETS, document

VXP_PACKETS = (
    "xxe-file",
    "billion-laughs",
    "deep-nesting",
    "invalid-utf8",
    "wrong-namespace",
    "wrap-second-envelope",
    "sha1",
    "untrusted-cert",
    "zip-bomb",
    "zip-traversal",
    "forged-from",
    "recipient-suspended",
    "huge-node",
)

VXP_CASES: list[Case] = [
    *(Case("vxp", n, c, s) for n, c, s in PACKET_CASES if n in VXP_PACKETS),
    Case("vxp", "tampered-hash-header", "AUTH_FAILED"),
    Case("vxp", "replayed-request", "AUTH_REPLAY", STRICT),
    Case("vxp", "file-hash-mismatch", "FILE_HASH_MISMATCH"),
    Case("vxp", "register-agency-as-agency", "FORBIDDEN"),
]


async def run_vxp(http: aiohttp.ClientSession, node: Node, case: Case) -> Outcome:
    """Send one hostile VXP call; the refusal as the ``FAIL`` body gave it."""
    client = VxpTestClient(http, node.url + "/vxp", case.system, SECRETS[case.system])
    packet: bytes | None = None
    params = {"from": G22, "servicetype": "eDoc", "messagetype": "edoc"}
    if case.name == "tampered-hash-header":
        call = client.prepare("getReceivedEdocList", {"servicetype": "eDoc"})
        call.headers["XroadVnpt-hash-header"] = "0" * 64
    elif case.name == "replayed-request":
        call = client.prepare("getReceivedEdocList", {"servicetype": "eDoc"})
        assert (await client.send(call))["status"] == "OK"
    elif case.name == "file-hash-mismatch":
        body = document("5200")
        call = client.prepare(
            "sendEdoc", {**params, "hash-file": sdk_hash_file(b"other")}, body=body
        )
    elif case.name == "register-agency-as-agency":
        body = json.dumps({"code": "000.00.00.H98", "name": "Giả mạo"}).encode()
        call = client.prepare("registerAgency", {"Content-Type": "application/json"}, body=body)
    else:
        packet = packet_for(node, case.name)
        call = client.prepare(
            "sendEdoc", {**params, "hash-file": sdk_hash_file(packet)}, body=packet
        )
    answer = await client.send(call)
    assert answer["status"] == "FAIL" and answer["ErrorCode"] not in ("0", ""), answer
    return Outcome(answer.get("code", ""), 200, packet, (answer["ErrorDesc"],))
