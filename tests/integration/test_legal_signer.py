"""The packet signer through the real gateway: bound to the sender, revocation by OCSP
served over loopback, secret documents; and a malware refusal at the VXP door."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from edxml.build import build, new_document
from edxml.model import Attachment, Code, Organization, OtherInfo
from edxml.signature import sign
from gateway.credentials.auth import sign_request
from tests.integration.gateway_node import running_node, settings_for
from tests.pdf_pki import RevocableCA, RevocationServer
from tests.services import EICAR, Clamd
from tests.vxp_client import VxpTestClient
from tests.world import G22, H41, SECRETS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def revocation() -> Iterator[RevocationServer]:
    with RevocationServer() as server:
        yield server


@pytest.fixture(scope="module")
def packet_ca(revocation: RevocationServer) -> RevocableCA:
    return RevocableCA("Packet signing CA", revocation)


@pytest.fixture
async def node(
    tmp_path: Path, amqp_url: str, clamd: Clamd, packet_ca: RevocableCA
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(packet_ca.cert_pem)
    systems = [
        {"id": "SYS-G22", "secret": SECRETS["SYS-G22"], "agencies": [G22], "policy": "legacy"},
        {
            "id": "SYS-H41",
            "secret": SECRETS["SYS-H41"],
            "agencies": [H41],
            "policy": "strict",
            "signer_binding": "require",
        },
    ]
    settings = settings_for(
        tmp_path,
        amqp_url,
        systems=systems,
        trust={"anchors": [str(anchors)], "revocation": "hard"},
        scan={"clamd": clamd.tcp_url},
    )
    async with running_node(settings) as server, aiohttp.ClientSession() as session:
        yield str(server.make_url("")).rstrip("/"), session


def document(sender: str, to: str, *, other: OtherInfo | None = None, files=()) -> bytes:  # type: ignore[no-untyped-def]
    return build(
        new_document(
            sender=Organization(organ_id=sender),
            to=[Organization(organ_id=to)],
            code=Code("12", "UBND-VP"),
            subject="Báo cáo định kỳ",
            promulgation_date=date(2026, 1, 5),
            other_info=other,
            attachments=list(files),
        )
    )


async def post(node: tuple[str, aiohttp.ClientSession], system: str, body: bytes) -> Any:
    url, session = node
    headers = sign_request(system, SECRETS[system], "POST", "/v1/messages", body)
    async with session.post(url + "/v1/messages", data=body, headers=headers) as response:
        return response.status, json.loads(await response.read())


async def test_signer_must_belong_to_the_sender(node, packet_ca: RevocableCA) -> None:  # type: ignore[no-untyped-def]
    g22 = packet_ca.issue("Văn thư VPCP", organization="Văn phòng Chính phủ")
    forged = sign(document(H41, G22), g22.key, g22.chain)  # From H41, signed with G22's cert
    status, body = await post(node, "SYS-H41", forged)
    assert status == 422 and body["error"]["code"] == "SIGNER_NOT_SENDER"
    assert H41 in body["error"]["message_en"] and body["error"]["message_vi"]
    h41 = packet_ca.issue("Văn thư UBND", organization="UBND tỉnh Nghệ An")
    status, receipt = await post(node, "SYS-H41", sign(document(H41, G22), h41.key, h41.chain))
    assert status == 202, receipt
    assert receipt["signature"]["status"] == "verified"
    assert receipt["signature"]["revocation"] == "good"


async def test_revoked_packet_signer_is_refused(node, packet_ca: RevocableCA) -> None:  # type: ignore[no-untyped-def]
    leaf = packet_ca.issue("Văn thư cũ", organization="UBND tỉnh Nghệ An")
    packet_ca.revoke(leaf)
    status, body = await post(node, "SYS-H41", sign(document(H41, G22), leaf.key, leaf.chain))
    assert status == 422 and body["error"]["code"] == "CERT_REVOKED"


async def test_unreachable_responder_under_hard_is_refused(node, packet_ca) -> None:  # type: ignore[no-untyped-def]
    leaf = packet_ca.issue("Văn thư", organization="UBND tỉnh Nghệ An", unreachable=True)
    status, body = await post(node, "SYS-H41", sign(document(H41, G22), leaf.key, leaf.chain))
    assert status == 422 and body["error"]["code"] == "REVOCATION_UNKNOWN"


async def test_secret_document_is_refused_and_not_stored(node) -> None:  # type: ignore[no-untyped-def]
    body = document(G22, H41, other=OtherInfo(sphere_of_promulgation="Tối mật"))
    status, answer = await post(node, "SYS-G22", body)
    assert status == 400 and answer["error"]["code"] == "SECRET_DOCUMENT"
    assert "bí mật nhà nước" in answer["error"]["message_vi"]


async def test_malware_refused_at_the_vxp_door(node) -> None:  # type: ignore[no-untyped-def]
    url, session = node
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", EICAR)
    att = Attachment(
        "cid:1", "hoso.zip", None, "application/zip", base64.b64encode(archive.getvalue()).decode()
    )
    vxp = VxpTestClient(session, url + "/vxp", "SYS-G22", SECRETS["SYS-G22"])
    answer = await vxp.send_edoc(document(G22, H41, files=[att]), sender=G22)
    assert answer["status"] == "FAIL" and answer["ErrorCode"] == "21"
    assert "mã độc" in answer["ErrorDesc"] and "malware" in answer["ErrorDesc"]
