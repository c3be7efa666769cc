"""Three gateway processes federated over VXP: A (province A) → H (the axis) → B (province B).

Each node is ``edoc-gateway serve`` in its own OS process (``tests/faults/cluster.py``),
with its own configuration (``EDOC_`` variables), SQLite store, blob directory and node key
(one test CA issues every key, as the national CA would). The three share ONE RabbitMQ
virtual host, each in its own topology namespace (the default prefix: its node code). A and
B name H as their ``upstream``: A forwards what is addressed to B's agency to H
(``sendEdoc``, the path in the signed ``hops`` header), B pulls what H holds for it
(``getEdoc``, the path beside the packet) and statuses travel back the same way.

H admits its member nodes under the ``legacy`` policy; B's link to H is ``strict``: B
verifies every packet's signature itself and refuses what does not verify, whatever H let
through.

The nodes are built here (:func:`start_federation`); the steps the tests take on them are
in ``federation_steps.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from gateway.credentials.auth import sign_request
from tests.faults.cluster import GatewayProcess, NodeConfig
from tests.pki import Credential, make_ca, make_leaf, write_pems
from tests.services import RabbitMQ, free_port
from tests.world import G22, H41, Pki

NODE_A, NODE_H, NODE_B = "000.00.00.A00", "000.00.00.H00", "000.00.00.B00"
SECRETS = {"SYS-G22": "g22-secret", "SYS-H41": "h41-secret", "SYS-A": "a-at-h", "SYS-B": "b-at-h"}
WAIT_S = 120.0
LADDER = [1, 2, 4, 8, 15, 30, 60]  # A keeps retrying the axis for minutes, never parks early


def _system(system_id: str, agency: str, policy: str) -> dict[str, Any]:
    return {"id": system_id, "secret": SECRETS[system_id], "agencies": [agency], "policy": policy}


def _peer(code: str, name: str, hub_vxp: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "endpoint_kind": "peer",
        "endpoint_url": hub_vxp,
        "endpoint_node": "hub",
    }


def _upstream(system_id: str, hub_vxp: str) -> dict[str, Any]:
    return {
        "name": "hub",
        "url": hub_vxp,
        "system_id": system_id,
        "secret": SECRETS[system_id],
        "poll_interval_s": 0.5,
        "policy": "strict",
    }


@dataclass
class Node:
    """One gateway process of the federation and its native API."""

    name: str
    process: GatewayProcess
    config: NodeConfig

    async def call(
        self, http: aiohttp.ClientSession, system: str, method: str, path: str, body: bytes = b""
    ) -> tuple[int, Any, bytes]:
        """One signed native API call as ``system``: (status, JSON or None, raw body)."""
        headers = sign_request(system, SECRETS[system], method, path, body)
        async with http.request(
            method,
            self.process.url + path,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=60),
        ) as response:
            raw = await response.read()
            try:
                return response.status, json.loads(raw), raw
            except ValueError:
                return response.status, None, raw

    async def trace(self, http: aiohttp.ClientSession, system: str, message_id: str) -> Any:
        """The REST trace of a message, as ``system`` sees it."""
        status, answer, raw = await self.call(
            http, system, "GET", f"/v1/messages/{message_id}/trace"
        )
        assert status == 200, raw
        return answer

    def store_url(self) -> str:
        """The node's SQLite store."""
        return self.config.store_url


@dataclass
class Federation:
    """The three nodes, the CA and the agency signers."""

    a: Node
    h: Node
    b: Node
    g22_signer: Credential
    h41_signer: Credential
    rabbitmq: RabbitMQ
    vhost: str


def _node(
    tmp: Path,
    name: str,
    code: str,
    ca: Credential,
    signer: Credential,
    amqp_url: str,
    *,
    port: int,
    systems: list[dict[str, Any]],
    agencies: list[dict[str, Any]],
    upstream: dict[str, Any] | None,
) -> Node:
    home = tmp / name
    paths = write_pems(home / "pki", ca=ca, node=make_leaf(ca, f"edoc node {name}"))
    pki = Pki(home / "pki", paths, signer, ca)
    extra: dict[str, Any] = {
        "NODE": {
            "code": code,
            "name": f"edoc-gateway {name}",
            "key_file": str(paths["node.key"]),
            "cert_file": str(paths["node.chain"]),
        },
        "AMQP": {
            "url": amqp_url,
            "retry_ladder": LADDER,
            "outbox_interval_s": 1.0,
            "outbox_older_than_s": 1.0,
        },
        "SYSTEMS": systems,
        "DIRECTORY": {"agencies": agencies},
        "LOG_LEVEL": "info",
    }
    if upstream is not None:
        extra["UPSTREAM"] = upstream
    config = NodeConfig(
        store_url=f"sqlite:///{home / 'store.db'}",
        amqp_url=amqp_url,
        blob_dir=home / "blobs",
        pki=pki,
        port=port,
        extra=extra,
    )
    return Node(name, GatewayProcess(config, tmp / f"{name}.log"), config)


@contextmanager
def start_federation(tmp_path: Path, rabbitmq: RabbitMQ) -> Iterator[Federation]:
    """Start H, A and B (A and B naming H as their upstream); kill all three afterwards."""
    ca = make_ca("National Test CA")
    g22_signer = make_leaf(ca, "Văn phòng Chính phủ")
    h41_signer = make_leaf(ca, "UBND tỉnh Nghệ An")
    vhost = rabbitmq.new_vhost()
    amqp_url = rabbitmq.url(vhost)  # one virtual host for all three
    hub_port = free_port()
    hub_vxp = f"http://127.0.0.1:{hub_port}/vxp"
    g22 = {"code": G22, "name": "Văn phòng Chính phủ"}
    h41 = {"code": H41, "name": "UBND tỉnh Nghệ An"}
    common = (ca, g22_signer, amqp_url)
    h = _node(
        tmp_path,
        "h",
        NODE_H,
        *common,
        port=hub_port,
        systems=[_system("SYS-A", G22, "legacy"), _system("SYS-B", H41, "legacy")],
        agencies=[g22, h41],
        upstream=None,
    )
    a = _node(
        tmp_path,
        "a",
        NODE_A,
        *common,
        port=free_port(),
        systems=[_system("SYS-G22", G22, "legacy")],
        agencies=[g22, _peer(H41, "UBND tỉnh Nghệ An", hub_vxp)],
        upstream=_upstream("SYS-A", hub_vxp),
    )
    b = _node(
        tmp_path,
        "b",
        NODE_B,
        *common,
        port=free_port(),
        systems=[_system("SYS-H41", H41, "strict")],
        agencies=[h41, _peer(G22, "Văn phòng Chính phủ", hub_vxp)],
        upstream=_upstream("SYS-B", hub_vxp),
    )
    nodes = (h, a, b)
    try:
        for node in nodes:
            node.process.start(wait=False)
        for node in nodes:
            node.process.wait_ready()
        yield Federation(a, h, b, g22_signer, h41_signer, rabbitmq, vhost)
    finally:
        for node in nodes:
            node.process.kill()
