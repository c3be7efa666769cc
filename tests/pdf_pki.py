"""Signed PDFs and revocation services for tests: a CA that publishes a CRL and answers OCSP.

Everything is made in the test: keys and certificates with ``cryptography`` (see
``tests/pki.py``), PDFs signed with pyhanko, OCSP responses built with ``cryptography``'s
OCSP builder and served, with the CRL, by an aiohttp server on a free loopback port that
runs in its own thread (so synchronous and asynchronous tests can both use it).

    with RevocationServer() as server:
        ca = RevocableCA("Test PDF CA", server)
        good = ca.issue("Nguyễn Văn A", organization="Văn phòng Chính phủ")
        bad = ca.issue("Trần Thị B"); ca.revoke(bad)
        pdf = sign_pdf(blank_pdf(), good)
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tests.pki import Credential, PrivateKey, make_ca, new_key
from tests.services import free_port


class RevocationServer:
    """CRLs at ``/crl/<ca>.crl`` and an OCSP responder at ``/ocsp/<ca>`` on 127.0.0.1."""

    def __init__(self) -> None:
        self.port = free_port()
        self.cas: dict[str, RevocableCA] = {}
        self.ocsp_requests = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RevocationServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/crl/{ca}.crl", self._crl)
        app.router.add_post("/ocsp/{ca}", self._ocsp)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _crl(self, request: web.Request) -> web.Response:
        ca = self.cas.get(request.match_info["ca"])
        if ca is None:
            raise web.HTTPNotFound()
        return web.Response(body=ca.crl_der(), content_type="application/pkix-crl")

    async def _ocsp(self, request: web.Request) -> web.Response:
        ca = self.cas.get(request.match_info["ca"])
        if ca is None:
            raise web.HTTPNotFound()
        self.ocsp_requests += 1
        answer = ca.ocsp_answer(await request.read())
        return web.Response(body=answer, content_type="application/ocsp-response")


def _name(cn: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


@dataclass
class RevocableCA:
    """A root CA whose leaves point at ``server`` for OCSP and CRL (or at a dead port)."""

    name: str
    server: RevocationServer | None = None
    unreachable: bool = False
    credential: Credential = field(init=False)
    revoked: dict[int, datetime] = field(default_factory=dict)
    slug: str = field(init=False)

    def __post_init__(self) -> None:
        self.credential = make_ca(self.name)
        self.slug = f"ca{id(self):x}"
        if self.server is not None:
            self.server.cas[self.slug] = self

    @property
    def cert(self) -> x509.Certificate:
        """The CA certificate (a document trust anchor)."""
        return self.credential.cert

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate as PEM."""
        return self.credential.cert_pem

    def _base(self, unreachable: bool = False) -> str:
        if unreachable or self.unreachable or self.server is None:
            return f"http://127.0.0.1:{free_port()}"  # nothing listens there
        return self.server.base

    def issue(
        self,
        cn: str,
        *,
        organization: str = "edoc-gateway tests",
        key_type: str = "rsa",
        unreachable: bool = False,
    ) -> Credential:
        """Issue a signing certificate with OCSP (AIA) and CRL distribution point URLs
        (``unreachable``: URLs where nothing listens)."""
        key: PrivateKey = new_key(key_type)  # type: ignore[arg-type]
        now = datetime.now(UTC)
        base = self._base(unreachable)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, organization))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.credential.key.public_key()
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(f"{base}/ocsp/{self.slug}"),
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(f"{base}/crl/{self.slug}.crl")],
                            None,
                            None,
                            None,
                        )
                    ]
                ),
                critical=False,
            )
        )
        cert = builder.sign(self.credential.key, hashes.SHA256())
        return Credential(key=key, cert=cert, issuer=self.credential)

    def revoke(self, leaf: Credential) -> None:
        """Mark ``leaf`` revoked (an hour ago) in the CRL and the OCSP answers."""
        self.revoked[leaf.cert.serial_number] = datetime.now(UTC) - timedelta(hours=1)

    def crl_der(self) -> bytes:
        """The current CRL, signed by the CA."""
        now = datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - timedelta(minutes=5))
            .next_update(now + timedelta(days=1))
            .add_extension(x509.CRLNumber(1), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.credential.key.public_key()
                ),
                critical=False,
            )
        )
        for serial, when in self.revoked.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        crl = builder.sign(self.credential.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.DER)

    def ocsp_answer(self, request_der: bytes) -> bytes:
        """Answer one OCSP request (signed by the CA itself, good or revoked)."""
        request = ocsp.load_der_ocsp_request(request_der)
        serial = request.serial_number
        now = datetime.now(UTC)
        revoked_at = self.revoked.get(serial)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            algorithm=request.hash_algorithm,
            serial_number=serial,
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked_at else ocsp.OCSPCertStatus.GOOD,
            this_update=now - timedelta(minutes=1),
            next_update=now + timedelta(hours=1),
            revocation_time=revoked_at,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked_at else None,
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.cert)
        for ext in request.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                builder = builder.add_extension(ext.value, critical=False)
        response = builder.sign(self.credential.key, hashes.SHA256())
        return response.public_bytes(serialization.Encoding.DER)


def blank_pdf(padding: int = 0) -> bytes:
    """A one-page PDF written by pyhanko's writer (no signature); ``padding`` bytes of random
    data in an extra stream make it as big as a real scanned document."""
    writer = PdfFileWriter()
    if padding:
        writer.add_object(generic.StreamObject(stream_data=os.urandom(padding)))
    content = generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 720 Td (edoc) Tj ET")
    page = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(n) for n in (0, 0, 595, 842)]
            ),
            generic.pdf_name("/Contents"): writer.add_object(content),
            generic.pdf_name("/Resources"): generic.DictionaryObject(),
        }
    )
    writer.insert_page(page)
    writer.set_info(None)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sign_pdf(pdf: bytes, signer: Credential, *, field_name: str = "Signature1") -> bytes:
    """Sign ``pdf`` with pyhanko (PAdES baseline B, no timestamp) as ``signer``."""
    der = signer.cert.public_bytes(serialization.Encoding.DER)
    key_der = signer.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chain = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
        for c in signer.chain[1:]
    ]
    simple = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(der),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(chain),
    )
    meta = signers.PdfSignatureMetadata(field_name=field_name, subfilter=None)
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=simple)
    return out.getvalue()


def append_update(pdf: bytes) -> bytes:
    """Add an incremental update (a new Info dictionary) after the last signature."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    info = generic.DictionaryObject(
        {generic.pdf_name("/Title"): generic.TextStringObject("changed after signing")}
    )
    writer.set_info(writer.add_object(info))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def tamper(pdf: bytes) -> bytes:
    """Change one byte of the page content, inside the range the signature covers."""
    at = pdf.index(b"(edoc)")
    return pdf[:at] + b"(edoX)" + pdf[at + 6 :]
