"""Trusting a WSO2 API Manager (a province's LGSP) in front of the hub doors.

Behind an LGSP the backend never sees the caller's OAuth bearer token (the APIM strips the
``Authorization`` header it validated) and receives instead an ``X-JWT-Assertion``: a JWT
signed by the APIM's key whose claims name the APIM application that called. With the switch
on, the gateway verifies that JWT with the APIM's public certificate (PyJWT over
``cryptography``: signature, ``exp``, and ``iss`` when configured) and maps the application
claim to a calling system by a table the province maintains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509

from gateway.errors import AuthError

HEADER = "X-JWT-Assertion"
APPLICATION_CLAIM = "http://wso2.org/claims/applicationname"
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")


@dataclass(frozen=True)
class LgspTrust:
    """The APIM's public key, the claim naming the application and application → system."""

    public_key: Any = field(repr=False)
    applications: Mapping[str, str]
    claim: str = APPLICATION_CLAIM
    issuer: str | None = None
    required: bool = False
    leeway_s: int = 30


def load_trust(
    certificate: Path,
    applications: Mapping[str, str],
    *,
    claim: str = APPLICATION_CLAIM,
    issuer: str | None = None,
    required: bool = False,
) -> LgspTrust:
    """Read the APIM's PEM certificate and build the trust."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    return LgspTrust(cert.public_key(), dict(applications), claim, issuer, required)


def system_of(trust: LgspTrust, assertion: str) -> str:
    """Return the calling system id an ``X-JWT-Assertion`` names; raise ``AuthError`` when
    the JWT is not the APIM's, has expired, or names no mapped application."""
    try:
        claims = jwt.decode(
            assertion.removeprefix("Bearer ").strip(),
            trust.public_key,
            algorithms=list(ALGORITHMS),
            issuer=trust.issuer,
            leeway=trust.leeway_s,
            options={"require": ["exp"], "verify_aud": False},
        )
    except jwt.PyJWTError as exc:
        raise AuthError(f"X-JWT-Assertion refused: {exc}") from None
    application = claims.get(trust.claim)
    system = trust.applications.get(str(application)) if application is not None else None
    if system is None:
        raise AuthError(f"APIM application {application!r} is not mapped to a calling system")
    return system
