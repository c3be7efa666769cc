"""Hub credentials: OrganId + Token, issued bearer tokens, and a trusted LGSP's X-JWT-Assertion."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr

from adapters.soap.credentials import HubCredentials
from adapters.soap.lgsp import APPLICATION_CLAIM, load_trust
from gateway.config import LimitsSettings, SystemSettings, load_settings
from gateway.credentials.auth import Authenticator
from gateway.errors import AuthError
from tests.pki import make_self_signed

G22, H41 = "000.00.00.G22", "000.00.00.H41"
SYSTEMS = (
    SystemSettings(id="SYS-G22", secret=SecretStr("s-g22"), agencies=(G22,)),
    SystemSettings(id="SYS-H41", secret=SecretStr("s-h41"), agencies=(H41,)),
)


@dataclass
class Directory:
    bound: dict[str, frozenset[str]]

    def agencies_for_system(self, system_id: str) -> frozenset[str]:
        return self.bound.get(system_id, frozenset())


def test_organ_and_secret() -> None:
    creds = HubCredentials(SYSTEMS, None, None)
    assert creds.authenticate(G22, "s-g22").system_id == "SYS-G22"
    for organ, token in ((G22, "s-h41"), (H41, "s-g22"), (G22, ""), ("", "s-g22"), ("X", "x")):
        with pytest.raises(AuthError):
            creds.authenticate(organ, token)


def test_directory_binding_counts_and_issued_tokens_work() -> None:
    directory = Directory({"SYS-H41": frozenset({"000.00.00.H14"})})
    authenticator = Authenticator(SYSTEMS, LimitsSettings())
    creds = HubCredentials(SYSTEMS, directory, authenticator)
    assert creds.authenticate("000.00.00.H14", "s-h41").system_id == "SYS-H41"
    token, _ = authenticator.issue_token(creds.authenticate(H41, "s-h41"))
    assert creds.authenticate(H41, token).system_id == "SYS-H41"
    with pytest.raises(AuthError):
        creds.authenticate(G22, token)  # issued for SYS-H41, not for G22's system


@pytest.fixture
def apim(tmp_path: Path) -> tuple[object, Path]:
    cred = make_self_signed("wso2carbon")
    path = tmp_path / "apim.pem"
    path.write_bytes(cred.cert_pem)
    return cred.key, path


def assertion(key: object, application: str = "QLVB-H41", **claims: object) -> str:
    body = {"iss": "wso2.org/products/am", "exp": int(time.time()) + 300}
    body[APPLICATION_CLAIM] = application
    body.update(claims)
    return jwt.encode(body, key, algorithm="RS256")  # type: ignore[arg-type]


def test_lgsp_assertion_maps_to_a_system(apim: tuple[object, Path]) -> None:
    key, cert = apim
    trust = load_trust(cert, {"QLVB-H41": "SYS-H41"}, issuer="wso2.org/products/am")
    creds = HubCredentials(SYSTEMS, None, None, trust)
    assert creds.authenticate(H41, "", assertion(key)).system_id == "SYS-H41"
    assert creds.authenticate(H41, "s-h41").system_id == "SYS-H41"  # not required: token too
    refused = [
        assertion(key, exp=int(time.time()) - 600),
        assertion(key, "QLVB-unknown"),
        assertion(key, iss="someone-else"),
        assertion(make_self_signed("intruder").key),
        "not-a-jwt",
    ]
    for token in refused:
        with pytest.raises(AuthError):
            creds.authenticate(H41, "s-h41", token)
    with pytest.raises(AuthError):
        creds.authenticate(G22, "", assertion(key))  # G22 is not an agency of SYS-H41


def test_lgsp_required_refuses_direct_calls(apim: tuple[object, Path]) -> None:
    key, cert = apim
    trust = load_trust(cert, {"QLVB-H41": "SYS-H41"}, required=True)
    creds = HubCredentials(SYSTEMS, None, None, trust)
    with pytest.raises(AuthError):
        creds.authenticate(H41, "s-h41")
    assert creds.authenticate(H41, "", assertion(key)).system_id == "SYS-H41"


def test_lgsp_switch_needs_the_apim_certificate(apim: tuple[object, Path]) -> None:
    with pytest.raises(ValueError, match="lgsp_certificate"):
        load_settings(None, hub={"lgsp_trust_jwt": True})
    settings = load_settings(None, hub={"lgsp_trust_jwt": True, "lgsp_certificate": apim[1]})
    assert settings.hub.lgsp_trust_jwt and settings.hub.soap_path == "/services/eDoc"
