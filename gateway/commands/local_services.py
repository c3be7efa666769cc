"""Development helpers for ``demo`` and ``scripts/run``: a private RabbitMQ and dev keys.

``LocalRabbitMQ`` runs Debian's RabbitMQ without systemd (recipe of STACK.md) on free
loopback ports, with its own node name, epmd and directory, and stops exactly what it
started. ``make_dev_pki`` writes a development CA, a node certificate and an agency signer
certificate (never use them in production).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Return whether something accepts TCP connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _epmd() -> str:
    found = shutil.which("epmd") or next(
        iter(sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))), None
    )
    if found is None:
        raise RuntimeError("epmd not found: install rabbitmq-server (bash scripts/install)")
    return str(found)


class LocalRabbitMQ:
    """A throw-away RabbitMQ node on loopback; :meth:`stop` ends only what it started."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="edoc-demo-rmq-"))
        self.port = free_port()
        self.epmd_port = free_port()
        self.node = f"edocdemo{uuid.uuid4().hex[:8]}@localhost"
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """AMQP URL of the node's default virtual host."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, timeout_s: float = 120.0) -> None:
        """Start epmd and the node; return when it accepts AMQP connections."""
        b = self.base
        for sub in ("mnesia", "log", "home"):
            (b / sub).mkdir(parents=True, exist_ok=True)
        (b / "enabled_plugins").write_text("[].\n")
        (b / "rabbitmq-env.conf").write_text("")
        (b / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        env = {
            **os.environ,
            "HOME": str(b / "home"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONF_ENV_FILE": str(b / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(b / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(b / "mnesia"),
            "RABBITMQ_LOG_BASE": str(b / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(b / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(b / "rabbit.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            # The distribution port defaults to 25672 for every node: clashes otherwise.
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self._procs.append(
            subprocess.Popen(
                [_epmd(), "-address", "127.0.0.1", "-port", str(self.epmd_port)],
                start_new_session=True,
                **quiet,
            )
        )
        with (b / "log" / "stdout.log").open("ab") as log:
            server = subprocess.Popen(
                [str(RABBITMQ_BIN / "rabbitmq-server")],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._procs.append(server)
        deadline = time.monotonic() + timeout_s
        while not port_open(self.port):
            if server.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited; see {b / 'log'}")
            if time.monotonic() > deadline:
                raise RuntimeError("RabbitMQ did not start in time")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the node and its epmd (by their own process groups) and remove the dir."""
        for proc in reversed(self._procs):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self._procs.clear()
        shutil.rmtree(self.base, ignore_errors=True)


@dataclass(frozen=True)
class DevPki:
    """Paths of the development PKI files."""

    ca_cert: Path
    node_key: Path
    node_chain: Path
    signer_key: Path
    signer_chain: Path


def _cert(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer_name: x509.Name | None,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
            ),
            critical=False,
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_dev_pki(directory: Path) -> DevPki:
    """Write (or reuse) a development CA, node and signer certificate in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = DevPki(
        directory / "ca.cert.pem",
        directory / "node.key.pem",
        directory / "node.chain.pem",
        directory / "signer.key.pem",
        directory / "signer.chain.pem",
    )
    if all(p.exists() for p in vars(paths).values()):
        return paths
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _cert("edoc-gateway DEV root CA", ca_key, None, ca_key, ca=True)
    paths.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for cn, key_path, chain_path in (
        ("edoc-gateway DEV node", paths.node_key, paths.node_chain),
        ("Văn phòng Chính phủ (DEV signer)", paths.signer_key, paths.signer_chain),
    ):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = _cert(cn, key, ca.subject, ca_key, ca=False)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key_path.chmod(0o600)
        chain_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return paths


def main() -> None:
    """``python -m gateway.commands.local_services DIR``: write the dev PKI into DIR."""
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "var/dev")
    pki = make_dev_pki(target)
    print(f"development PKI in {target} (CA {pki.ca_cert.name})")


if __name__ == "__main__":
    main()
