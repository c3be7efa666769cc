"""The node key in a PKCS#11 token (SoftHSM2) or an encrypted PEM: receipts signed with a key
that never leaves the token verify with the real xmlsec1; wrong secrets fail cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from pkcs11 import Attribute, KeyType, ObjectClass

from adapters.push.signature import sign_request as sign_push
from adapters.push.signature import verify_request
from gateway.config import load_settings
from gateway.core.receipts import NodeIdentity, Receipt, signed_receipt_xml
from gateway.credentials.auth import sign_request
from gateway.nodekey import (
    NodeKeyUnavailable,
    Pkcs11RsaKey,
    Pkcs11Uri,
    load_identity,
    signing_check,
)
from gateway.ops.health import CheckFailed
from tests.integration.gateway_node import running_node, settings_for
from tests.pki import Credential, make_ca, make_leaf, new_key
from tests.softhsm import MODULE, SoftHsm
from tests.world import SECRETS, document

ROOT = Path(__file__).resolve().parents[2]
PIN = "5678"
NODE = "000.00.00.G22"


@pytest.fixture(scope="session")
def softhsm() -> Iterator[SoftHsm]:
    hsm = SoftHsm()
    try:
        yield hsm
    finally:
        hsm.close()


@pytest.fixture(scope="session")
def ca() -> Credential:
    return make_ca("Test Root CA")


@pytest.fixture(scope="session")
def token(
    softhsm: SoftHsm, ca: Credential, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A token holding a non-extractable RSA key, and the node certificate for that key.

    One per session: SoftHSM lists the tokens it found when its library was initialised.
    """
    tmp_path = tmp_path_factory.mktemp("token")
    label = softhsm.init_token(pin=PIN)
    session = pkcs11.lib(str(MODULE)).get_token(token_label=label).open(rw=True, user_pin=PIN)
    session.generate_keypair(
        KeyType.RSA,
        2048,
        label="node-key",
        id=b"\x01",
        store=True,
        private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
    )
    session.close()
    (tmp_path / "pin").write_text(PIN + "\n")
    node = {
        "code": NODE,
        "pkcs11_uri": f"pkcs11:token={label};object=node-key",
        "pkcs11_module": str(MODULE),
        "pkcs11_pin_file": str(tmp_path / "pin"),
        "key_file": str(tmp_path / "absent.key"),
        "cert_file": str(tmp_path / "node.chain.pem"),
    }
    # The certificate is issued for the public key read from the token.
    public = load_identity_key(node)
    leaf = make_leaf(ca, "edoc node", key=public)  # type: ignore[arg-type]
    (tmp_path / "node.chain.pem").write_bytes(leaf.chain_pem)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    return {"label": label, "node": node, "ca": tmp_path / "ca.pem"}


def load_identity_key(node: dict[str, Any]) -> Pkcs11RsaKey:
    from gateway.nodekey import load_key

    key = load_key(load_settings(None, node=node).node)
    assert isinstance(key, Pkcs11RsaKey)
    return key


def receipt() -> Receipt:
    now = datetime.now(UTC)
    return Receipt(
        message_id="m1",
        kind="document",
        document_id="doc-1",
        sender=NODE,
        content_sha256="a" * 64,
        accepted_at=now,
        legal_receipt_at=now,
        signature={"status": "verified"},
        recipients=({"code": "000.00.00.H41", "state": "published"},),
        node=NODE,
    )


def xmlsec_verify(xml: bytes, ca: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "receipt.xml"
    path.write_bytes(xml)
    return subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(ca), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_pkcs11_uri_parsing() -> None:
    uri = Pkcs11Uri.parse("pkcs11:token=Node%20Token;object=node-key;id=%01%a2?pin-source=file:/p")
    assert (uri.token, uri.label, uri.key_id, uri.pin_file) == (
        "Node Token",
        "node-key",
        b"\x01\xa2",
        "/p",
    )
    for bad in ("file:/x", "pkcs11:object=k", "pkcs11:token=t"):
        with pytest.raises(NodeKeyUnavailable):
            Pkcs11Uri.parse(bad)


def test_a_token_key_signs_receipts_that_xmlsec1_verifies(
    token: dict[str, Any], tmp_path: Path
) -> None:
    identity = load_identity(load_settings(None, node=token["node"]).node)
    assert identity is not None and isinstance(identity.key, Pkcs11RsaKey)
    xml = signed_receipt_xml(receipt(), identity)
    checked = xmlsec_verify(xml, token["ca"], tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout + checked.stderr
    # A receipt altered after signing no longer verifies.
    tampered = xml.replace(b"doc-1", b"doc-2")
    assert xmlsec_verify(tampered, token["ca"], tmp_path).returncode != 0


def test_the_key_never_leaves_the_token(token: dict[str, Any]) -> None:
    key = load_identity_key(token["node"])
    with pytest.raises(TypeError):
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    with pytest.raises(TypeError):
        key.private_numbers()
    # ``key`` holds a logged-in session: a second session of this process shares the login.
    session = pkcs11.lib(str(MODULE)).get_token(token_label=token["label"]).open()
    private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="node-key")
    assert private[Attribute.EXTRACTABLE] is False and private[Attribute.SENSITIVE] is True
    session.close()


def test_token_signatures_serve_push_requests_and_pss(token: dict[str, Any]) -> None:
    key = load_identity_key(token["node"])
    headers = sign_push(key, method="POST", path="/in", delivery_id="d1", body=b"x")
    cert = x509.load_pem_x509_certificates(Path(token["node"]["cert_file"]).read_bytes())[0]
    assert verify_request(cert, method="POST", path="/in", headers=headers, body=b"x") == "d1"
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    signature = key.sign(b"data", pss, hashes.SHA256())
    key.public_key().verify(signature, b"data", pss, hashes.SHA256())


LOAD = """
import json, sys
from gateway.credentials.auth import sign_request
from gateway.config import load_settings
from gateway.nodekey import NodeKeyUnavailable, load_identity
try:
    load_identity(load_settings(None, node=json.loads(sys.argv[1])).node)
except NodeKeyUnavailable as exc:
    print(exc.code, exc.text_vi, "/", exc.text_en)
    raise SystemExit(1)
print("loaded")
"""


def load_in_a_fresh_process(node: dict[str, Any]) -> tuple[int, str]:
    """Load the key where no session of this test process is logged in to the token."""
    result = subprocess.run(
        [sys.executable, "-c", LOAD, json.dumps(node)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return result.returncode, result.stdout + result.stderr


def test_a_wrong_pin_or_token_fails_cleanly_without_the_pin(
    token: dict[str, Any], tmp_path: Path
) -> None:
    assert load_in_a_fresh_process(token["node"]) == (0, "loaded\n")
    (tmp_path / "wrong").write_text("99999999")
    code, out = load_in_a_fresh_process(
        {**token["node"], "pkcs11_pin_file": str(tmp_path / "wrong")}
    )
    assert code == 1 and out.startswith("NODE_KEY_UNAVAILABLE Không nạp được khóa ký"), out
    assert "PinIncorrect" in out and "99999999" not in out and "Traceback" not in out
    other = {**token["node"], "pkcs11_uri": "pkcs11:token=no-such-token;object=node-key"}
    code, out = load_in_a_fresh_process(other)
    assert code == 1 and "no-such-token" in out and "NoSuchToken" in out, out


def test_the_pin_may_come_from_the_environment(
    token: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDOC_NODE__PKCS11_PIN", PIN)
    node = {k: v for k, v in token["node"].items() if k != "pkcs11_pin_file"}
    settings = load_settings(None, node=node)
    assert PIN not in repr(settings)
    identity = load_identity(settings.node)
    assert identity is not None and isinstance(identity.key, Pkcs11RsaKey)


def _encrypted_pem(tmp_path: Path, ca: Credential, password: bytes) -> dict[str, Any]:
    key = new_key()
    leaf = make_leaf(ca, "edoc node", key=key)
    (tmp_path / "node.key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
    )
    (tmp_path / "node.chain.pem").write_bytes(leaf.chain_pem)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    return {
        "code": NODE,
        "key_file": str(tmp_path / "node.key.pem"),
        "cert_file": str(tmp_path / "node.chain.pem"),
    }


def test_an_encrypted_pem_with_a_password_file_signs_verifiable_receipts(
    tmp_path: Path, ca: Credential
) -> None:
    node = _encrypted_pem(tmp_path, ca, b"m\xe1t-kh\xe1u")
    (tmp_path / "password").write_bytes(b"m\xe1t-kh\xe1u\n")
    identity = load_identity(
        load_settings(None, node={**node, "key_password_file": str(tmp_path / "password")}).node
    )
    assert identity is not None
    checked = xmlsec_verify(signed_receipt_xml(receipt(), identity), tmp_path / "ca.pem", tmp_path)
    assert checked.returncode == 0, checked.stderr


def test_an_encrypted_pem_password_from_the_environment(
    tmp_path: Path, ca: Credential, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = _encrypted_pem(tmp_path, ca, b"secret-pass")
    monkeypatch.setenv("EDOC_NODE__KEY_PASSWORD", "secret-pass")
    assert load_identity(load_settings(None, node=node).node) is not None


@pytest.mark.parametrize("password", [None, "wrong"], ids=["missing", "wrong"])
def test_an_encrypted_pem_without_the_right_password_fails_cleanly(
    tmp_path: Path, ca: Credential, password: str | None
) -> None:
    node = _encrypted_pem(tmp_path, ca, b"secret-pass")
    if password is not None:
        node["key_password"] = password
    with pytest.raises(NodeKeyUnavailable) as refused:
        load_identity(load_settings(None, node=node).node)
    assert refused.value.text_vi.startswith("Không nạp được khóa ký")
    assert "secret-pass" not in str(refused.value)


@pytest.mark.integration
async def test_a_running_gateway_signs_receipts_in_the_token(
    token: dict[str, Any], tmp_path: Path, amqp_url: str
) -> None:
    """The real gateway with its node key in SoftHSM2: the XML receipt of a posted document
    verifies with xmlsec1, and /readyz proves the token signs."""
    settings = settings_for(tmp_path, amqp_url, node=token["node"])
    body = document("77/token")
    async with running_node(settings) as server, aiohttp.ClientSession() as session:
        base = str(server.make_url("")).rstrip("/")
        headers = sign_request("SYS-G22", SECRETS["SYS-G22"], "POST", "/v1/messages", body)
        headers["Accept"] = "application/xml"
        async with session.post(base + "/v1/messages", data=body, headers=headers) as response:
            assert response.status == 202, await response.text()
            xml = await response.read()
        async with session.get(base + "/readyz") as response:
            ready = await response.json()
    checked = xmlsec_verify(xml, token["ca"], tmp_path)
    assert checked.returncode == 0, checked.stderr
    node_key = next(c for c in ready["checks"] if c["name"] == "node_key")
    assert node_key["ok"] is True and node_key["detail"].startswith("signs"), node_key


async def test_the_readiness_probe_signs_and_checks_the_certificate(
    tmp_path: Path, ca: Credential
) -> None:
    node = _encrypted_pem(tmp_path, ca, b"pw")
    identity = load_identity(load_settings(None, node={**node, "key_password": "pw"}).node)
    assert identity is not None
    assert (await signing_check(lambda: identity).probe()).startswith("signs")
    wrong = NodeIdentity(NODE, identity.key, make_leaf(ca, "another node").chain)
    with pytest.raises(CheckFailed, match="does not match"):
        await signing_check(lambda: wrong).probe()
    with pytest.raises(CheckFailed, match="not loaded"):
        await signing_check(lambda: None).probe()
