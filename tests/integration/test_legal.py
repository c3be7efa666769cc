"""Legal signatures and safe attachments through the real gateway (REST and VXP doors).

Real components only: the app of ``gateway.app.build_app`` on loopback, the session's
RabbitMQ, a clamd of our own with an EICAR-only signature database (tests/services.py),
PDFs signed with pyhanko by a CA generated here, whose OCSP responder and CRL are served
over loopback by the test (tests/pdf_pki.py).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from edxml.build import build, new_document, status_message
from edxml.model import (
    Attachment,
    Business,
    BusinessDocType,
    Code,
    Organization,
    ResponseFor,
    StatusCode,
)
from gateway.credentials.auth import sign_request
from gateway.store.database import create_engine
from gateway.store.models import Base
from tests.integration.gateway_node import REPO, running_node, settings_for
from tests.pdf_pki import RevocableCA, RevocationServer, blank_pdf, sign_pdf
from tests.services import EICAR, EICAR_SIGNATURE, Clamd, free_port
from tests.vxp_client import VxpTestClient
from tests.world import G22, H41, SECRETS

pytestmark = pytest.mark.integration
ADMIN_TOKEN = "admin-token-legal"
PE_HEADER = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


def packet(number: str, files: list[tuple[str, str, bytes]], *, doc_id: str | None = None) -> bytes:
    """A new document from G22 to H41 carrying ``files`` (name, content type, bytes)."""
    attachments = [
        Attachment(
            content_id=f"cid:{i}",
            attachment_name=name,
            content_type=ctype,
            encoded=base64.b64encode(data).decode(),
        )
        for i, (name, ctype, data) in enumerate(files, start=1)
    ]
    envelope = new_document(
        sender=Organization(organ_id=G22, organ_name="Văn phòng Chính phủ"),
        to=[Organization(organ_id=H41, organ_name="UBND tỉnh Nghệ An")],
        code=Code(number, "VPCP-PL"),
        subject=f"Văn bản có chữ ký số {number}",
        promulgation_date=date(2026, 1, 5),
        attachments=attachments,
    )
    return build(envelope)


async def signed(signer: Any) -> bytes:
    """A blank PDF signed by ``signer`` (pyhanko's sync API runs its own loop: a thread)."""
    return await asyncio.to_thread(sign_pdf, blank_pdf(), signer)


@dataclass
class Node:
    url: str
    session: aiohttp.ClientSession
    tmp: Path

    async def call(self, method: str, path: str, system: str, body: bytes = b"") -> tuple[int, Any]:
        auth = sign_request(system, SECRETS[system], method, path, body)
        async with self.session.request(
            method, self.url + path, data=body, headers=auth
        ) as response:
            raw = await response.read()
            return response.status, json.loads(raw) if raw.startswith(b"{") else raw

    async def admin(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with self.session.post(
            self.url + "/admin/v1" + path, json=body, headers=headers
        ) as r:
            return r.status, await r.json()

    async def inbox_item(self, message_id: str) -> dict[str, Any]:
        for _ in range(400):
            _, body = await self.call("GET", "/v1/inbox?limit=100", "SYS-H41")
            found = [i for i in body["items"] if i["message_id"] == message_id]
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError("inbox item never appeared")

    async def audit(self, event: str) -> list[dict[str, Any]]:
        engine = create_engine(f"sqlite:///{self.tmp / 'store.db'}")
        try:
            table = Base.metadata.tables["audit_log"]
            async with engine.connect() as conn:
                rows = (await conn.execute(select(table).where(table.c.event == event))).mappings()
                return [dict(r) for r in rows]
        finally:
            await engine.dispose()


@pytest.fixture(scope="module")
def revocation() -> Iterator[RevocationServer]:
    with RevocationServer() as server:
        yield server


@pytest.fixture(scope="module")
def doc_ca(revocation: RevocationServer) -> RevocableCA:
    return RevocableCA("Ban Cơ yếu Chính phủ (test)", revocation)


@pytest.fixture
async def node(
    tmp_path: Path, amqp_url: str, clamd: Clamd, doc_ca: RevocableCA
) -> AsyncIterator[Node]:
    anchors = tmp_path / "document-anchors.pem"
    anchors.write_bytes(doc_ca.cert_pem)
    systems = [
        {"id": "SYS-G22", "secret": SECRETS["SYS-G22"], "agencies": [G22], "policy": "legacy"},
        {
            "id": "SYS-H41",
            "secret": SECRETS["SYS-H41"],
            "agencies": [H41],
            "policy": "legacy",
            "pdf_signatures": "require",
        },
    ]
    settings = settings_for(
        tmp_path,
        amqp_url,
        systems=systems,
        scan={"clamd": clamd.unix_url, "on_error": "refuse", "timeout_s": 10},
        trust={"document_anchors": [str(anchors)], "revocation": "soft"},
        admin={"tokens": [ADMIN_TOKEN]},
    )
    (tmp_path / "gateway.toml").write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\nblob_dir = "{tmp_path / "blobs"}"\n'
    )
    async with running_node(settings) as server, aiohttp.ClientSession() as session:
        yield Node(str(server.make_url("")).rstrip("/"), session, tmp_path)


def blob_files(tmp: Path) -> list[Path]:
    return [p for p in (tmp / "blobs").rglob("*") if p.is_file() and not p.name.startswith(".")]


async def test_eicar_inside_a_zip_is_refused_by_the_real_clamd(node: Node) -> None:
    data = packet("201", [("hoso.zip", "application/zip", zipped("tailieu.txt", EICAR))])
    status, body = await node.call("POST", "/v1/messages", "SYS-G22", data)
    assert status == 422
    error = body["error"]
    assert error["code"] == "ATTACHMENT_MALWARE"
    assert "hoso.zip" in error["message_en"] and EICAR_SIGNATURE in error["message_en"]
    assert error["message_vi"].startswith("Tệp đính kèm chứa mã độc")
    refused = [r for r in await node.audit("rejected") if r["outcome"] == "ATTACHMENT_MALWARE"]
    assert len(refused) == 1
    assert blob_files(node.tmp) == []  # not stored


async def test_executable_named_pdf_is_refused(node: Node) -> None:
    data = packet("202", [("vanban.pdf", "application/pdf", PE_HEADER + b"\x00" * 512)])
    status, body = await node.call("POST", "/v1/messages", "SYS-G22", data)
    assert status == 400
    assert body["error"]["code"] == "ATTACHMENT_TYPE_MISMATCH"
    assert "Windows executable" in body["error"]["message_en"]
    assert blob_files(node.tmp) == []


async def test_signed_pdf_reported_in_receipt_trace_and_inbox(
    node: Node, doc_ca: RevocableCA
) -> None:
    signer = doc_ca.issue("Nguyễn Văn A", organization="Văn phòng Chính phủ")
    pdf = await signed(signer)
    status, receipt = await node.call(
        "POST", "/v1/messages", "SYS-G22", packet("203", [("qd.pdf", "application/pdf", pdf)])
    )
    assert status == 202, receipt
    (att,) = receipt["attachments"]
    assert att["scan"] == "clean" and att["detected_type"] == "application/pdf"
    (sig,) = att["pdf_signatures"]
    assert sig["status"] == "valid" and sig["signer"] == "Nguyễn Văn A"
    assert sig["signer_organization"] == "Văn phòng Chính phủ"
    assert sig["revocation"] == "good" and sig["covers_whole_document"] is True
    message_id = receipt["message_id"]
    _, trace = await node.call("GET", f"/v1/messages/{message_id}/trace", "SYS-G22")
    assert trace["message"]["attachments"][0]["pdf_signatures"][0]["status"] == "valid"
    item = await node.inbox_item(message_id)
    assert item["attachments"][0]["pdf_signatures"][0]["signer"] == "Nguyễn Văn A"


async def test_require_policy_refuses_a_pdf_without_a_valid_signature(
    node: Node, revocation: RevocationServer
) -> None:
    other = RevocableCA("Some other CA", revocation)
    pdf = await signed(other.issue("Không tin cậy"))
    body = build(
        new_document(
            sender=Organization(organ_id=H41),
            to=[Organization(organ_id=G22)],
            code=Code("7", "UBND-VP"),
            subject="Báo cáo",
            promulgation_date=date(2026, 1, 5),
            attachments=[
                Attachment(
                    "cid:1", "bc.pdf", None, "application/pdf", base64.b64encode(pdf).decode()
                )
            ],
        )
    )
    status, answer = await node.call("POST", "/v1/messages", "SYS-H41", body)
    assert status == 422
    assert answer["error"]["code"] == "PDF_SIGNATURE_REQUIRED"
    assert "indeterminate" in answer["error"]["message_en"]
    refused = [r for r in await node.audit("rejected") if r["outcome"] == "PDF_SIGNATURE_REQUIRED"]
    assert len(refused) == 1


async def test_takedown_makes_the_document_gone_at_every_door(node: Node, doc_ca) -> None:
    pdf = await signed(doc_ca.issue("Người ký"))
    status, receipt = await node.call(
        "POST", "/v1/messages", "SYS-G22", packet("204", [("mat.pdf", "application/pdf", pdf)])
    )
    assert status == 202
    message_id = receipt["message_id"]
    await node.inbox_item(message_id)
    assert len(blob_files(node.tmp)) == 1

    path = f"/admin/v1/messages/{message_id}/takedown"
    body = json.dumps({"reason": "x"}).encode()
    agency = sign_request("SYS-G22", SECRETS["SYS-G22"], "POST", path, body)
    async with node.session.post(node.url + path, data=body, headers=agency) as refused:
        assert refused.status == 401  # admin only: an agency system may not take down
    assert len(blob_files(node.tmp)) == 1
    status, stone = await node.admin(f"/messages/{message_id}/takedown", {"reason": "lộ lọt"})
    assert status == 200, stone
    assert stone["reason"] == "lộ lọt" and stone["blob_removed"] is True
    assert stone["content_sha256"] == receipt["content_sha256"]
    assert stone["taken_down_by"].startswith("admin:")
    assert blob_files(node.tmp) == []

    for system in ("SYS-G22", "SYS-H41"):
        status, body = await node.call("GET", f"/v1/messages/{message_id}", system)
        assert status == 410 and body["error"]["code"] == "MESSAGE_GONE"
    _, inbox = await node.call("GET", "/v1/inbox?limit=100", "SYS-H41")
    assert message_id not in {i["message_id"] for i in inbox["items"]}
    vxp = VxpTestClient(node.session, node.url + "/vxp", "SYS-H41", SECRETS["SYS-H41"])
    answer, data = await vxp.get_edoc(message_id)
    assert answer["status"] == "FAIL" and answer["ErrorCode"] == "24" and data is None
    assert "gỡ bỏ" in answer["ErrorDesc"] and "taken down" in answer["ErrorDesc"]
    _, trace = await node.call("GET", f"/v1/messages/{message_id}/trace", "SYS-G22")
    assert trace["message"]["taken_down"]["reason"] == "lộ lọt"
    assert len(await node.audit("taken_down")) == 1


async def test_takedown_from_the_command_line(node: Node) -> None:
    status, receipt = await node.call(
        "POST", "/v1/messages", "SYS-G22", packet("205", [("a.txt", "text/plain", b"noi dung")])
    )
    assert status == 202
    message_id = receipt["message_id"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", "from gateway.cli import main; main()", "messages", "takedown",
         message_id, "--reason", "văn bản mật bị gửi nhầm", "--json",
         "--config", str(node.tmp / "gateway.toml")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stone = json.loads(next(x for x in done.stdout.splitlines() if x.startswith('{"')))
    assert stone["message_id"] == message_id and stone["taken_down_by"].startswith("cli:")
    status, body = await node.call("GET", f"/v1/messages/{message_id}", "SYS-H41")
    assert status == 410 and body["error"]["code"] == "MESSAGE_GONE"


async def test_recall_agreed_with_15_makes_it_unfetchable_for_that_recipient(node: Node) -> None:
    original = packet("206", [("a.txt", "text/plain", b"ban dau")])
    status, receipt = await node.call("POST", "/v1/messages", "SYS-G22", original)
    assert status == 202
    message_id, doc_id = receipt["message_id"], receipt["document_id"]
    await node.inbox_item(message_id)
    assert (await node.call("GET", f"/v1/messages/{message_id}", "SYS-H41"))[0] == 200
    recall = new_document(
        sender=Organization(organ_id=G22),
        to=[Organization(organ_id=H41)],
        code=Code("207", "VPCP-PL"),
        subject="Thu hồi",
        promulgation_date=date(2026, 1, 5),
    )
    import dataclasses

    recall = dataclasses.replace(
        recall, business=Business(document_id=doc_id, doc_type=BusinessDocType.RECALL)
    )
    status, answer = await node.call("POST", "/v1/messages", "SYS-G22", build(recall))
    assert status == 202, answer
    agreed = status_message(
        sender=Organization(organ_id=H41),
        document=ResponseFor(organ_id=G22, document_id=doc_id),
        code=StatusCode.RECALL_AGREED,
    )
    status, answer = await node.call("POST", "/v1/messages", "SYS-H41", build(agreed))
    assert status == 202, answer
    status, body = await node.call("GET", f"/v1/messages/{message_id}", "SYS-H41")
    assert status == 410 and body["error"]["code"] == "MESSAGE_GONE"
    assert "recalled" in body["error"]["message_en"]
    assert (await node.call("GET", f"/v1/messages/{message_id}", "SYS-G22"))[0] == 200


async def test_readyz_reports_the_scanner(node: Node, tmp_path: Path, amqp_url: str) -> None:
    async with node.session.get(node.url + "/readyz") as response:
        body = await response.json()
    (scanner,) = [c for c in body["checks"] if c["name"] == "scanner"]
    assert scanner["ok"] is True and "ClamAV" in scanner["detail"]
    dead = settings_for(
        tmp_path / "other",
        amqp_url,
        scan={"clamd": f"tcp://127.0.0.1:{free_port()}"},
    )
    async with (
        running_node(dead, with_workers=False) as server,
        node.session.get(str(server.make_url("/readyz"))) as response,
    ):
        assert response.status == 503
        body = await response.json()
    (scanner,) = [c for c in body["checks"] if c["name"] == "scanner"]
    assert scanner["ok"] is False and "clamd" in scanner["detail"]
