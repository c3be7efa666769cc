"""Real RabbitMQ and PostgreSQL servers for the tests, started without systemd.

Each server gets a free loopback port, its own directory under /tmp and (for RabbitMQ) its
own node name and its own ``epmd`` on a free port, so several test sessions on one machine
never meet. Everything started here runs in its own process group and is stopped by that
group id at the end of the session; nothing else is touched.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

RABBITMQ_BIN = Path(os.environ.get("EDOC_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))
BOOT_TIMEOUT_S = 180.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Return whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2) -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it is true; ``TimeoutError`` naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop_group(
    proc: subprocess.Popen[bytes] | None,
    timeout: float = 30.0,
    sig: signal.Signals = signal.SIGTERM,
) -> None:
    """Stop a process started in its own session: ``sig`` to its group, KILL after a while."""
    if proc is None or proc.poll() is not None:
        _kill_group(proc, signal.SIGKILL)
        return
    _kill_group(proc, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc, signal.SIGKILL)
        proc.wait(timeout=timeout)
    _kill_group(proc, signal.SIGKILL)  # leftovers of the group (erl_child_setup, ...)


def _kill_group(proc: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if proc is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _epmd_binary() -> str:
    found = shutil.which("epmd") or next(
        iter(sorted(glob.glob("/usr/lib/erlang/erts-*/bin/epmd"))), None
    )
    if found is None:
        raise RuntimeError("epmd not found: install rabbitmq-server (scripts/install)")
    return found


class RabbitMQ:
    """One RabbitMQ node from Debian's package, with its own epmd, port and directory."""

    def __init__(self, base: Path | None = None, *, port: int | None = None) -> None:
        self.base = base or Path(tempfile.mkdtemp(prefix="edoc-rmq-"))
        self.port = port or free_port()
        self.epmd_port = free_port()
        self.dist_port = free_port()
        self.node = f"edoc{uuid.uuid4().hex[:8]}@localhost"
        self._server: subprocess.Popen[bytes] | None = None
        self._epmd: subprocess.Popen[bytes] | None = None
        self._vhosts: list[str] = []
        for sub in ("mnesia", "log", "home"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq-env.conf").write_text("")
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            "disk_free_limit.absolute = 50MB\n"
        )

    def url(self, vhost: str = "/") -> str:
        """Return the AMQP URL of ``vhost`` on this node."""
        quoted = "%2F" if vhost == "/" else vhost
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{quoted}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for the server and its command line tools (same HOME: same cookie)."""
        b = self.base
        return {
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
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self) -> None:
        """Start the node (and its epmd) and wait until it accepts AMQP connections."""
        if self._epmd is None or self._epmd.poll() is not None:
            self._epmd = subprocess.Popen(
                [_epmd_binary(), "-address", "127.0.0.1", "-port", str(self.epmd_port)],
                cwd=self.base,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            wait_until(lambda: port_open(self.epmd_port), 30, "epmd")
        log = open(self.base / "log" / "stdout.log", "ab")  # noqa: SIM115 - the server owns it
        self._server = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.base,
        )
        log.close()

        def ready() -> bool:
            if self._server is not None and self._server.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited; see {self.base / 'log'}")
            return port_open(self.port)

        wait_until(ready, BOOT_TIMEOUT_S, f"RabbitMQ on port {self.port}")

    def stop(self) -> None:
        """Stop the node gracefully (its data stays: :meth:`start` brings it back)."""
        stop_group(self._server)
        self._server = None
        wait_until(lambda: not port_open(self.port), 60, "RabbitMQ to close its port")

    def kill(self) -> None:
        """Stop everything this object started, epmd included, and remove its directory."""
        stop_group(self._server, timeout=15)
        self._server = None
        stop_group(self._epmd, timeout=5)
        self._epmd = None
        shutil.rmtree(self.base, ignore_errors=True)

    def ctl(self, *args: str, timeout: float = 120) -> str:
        """Run ``rabbitmqctl`` against this node and return its output."""
        result = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, "-q", *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=False,
            cwd=self.base,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {args[0]} failed: {result.stderr.decode()[-2000:]}")
        return result.stdout.decode()

    def new_vhost(self) -> str:
        """Return a fresh virtual host with full rights for ``guest`` (made in batches)."""
        if not self._vhosts:
            names = [f"t{uuid.uuid4().hex[:12]}" for _ in range(16)]
            calls = " ".join(
                f'rabbit_vhost:add(<<"{n}">>, <<"tests">>), '
                f'rabbit_auth_backend_internal:set_permissions(<<"guest">>, <<"{n}">>, '
                f'<<".*">>, <<".*">>, <<".*">>, <<"tests">>),'
                for n in names
            )
            self.ctl("eval", f"{calls} ok.")
            self._vhosts.extend(names)
        return self._vhosts.pop()


def _pg_bin() -> Path:
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not versions:
        raise RuntimeError("PostgreSQL not found: install postgresql (scripts/install)")
    return Path(versions[-1]).parent


class PostgreSQL:
    """One PostgreSQL cluster made with ``initdb`` in a temporary directory."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="edoc-pg-"))
        self.port = free_port()
        self.bin = _pg_bin()
        self._server: subprocess.Popen[bytes] | None = None
        # initdb and postgres refuse to run as root: run them as the "postgres" user then.
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.base, "postgres", "postgres")

    @property
    def url(self) -> str:
        """URL of the maintenance database ``postgres``."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        """Return the URL of database ``name`` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *cmd: str, timeout: float = 120) -> None:
        result = subprocess.run(
            [*self._as, *cmd], capture_output=True, timeout=timeout, check=False, cwd=self.base
        )
        if result.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {result.stderr.decode()[-2000:]}")

    def start(self) -> None:
        """Create the cluster if needed, start the server and wait until it answers."""
        data = self.base / "data"
        if not data.exists():
            self._run(
                str(self.bin / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            )
        log = open(self.base / "server.log", "ab")  # noqa: SIM115 - the server owns it
        self._server = subprocess.Popen(
            [
                *self._as,
                str(self.bin / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(self.base),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.base,
        )
        log.close()

        def ready() -> bool:
            if self._server is not None and self._server.poll() is not None:
                raise RuntimeError(f"postgres exited; see {self.base / 'server.log'}")
            return (
                subprocess.run(
                    [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                    capture_output=True,
                    check=False,
                ).returncode
                == 0
            )

        wait_until(ready, BOOT_TIMEOUT_S, f"PostgreSQL on port {self.port}")

    def create_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"t{uuid.uuid4().hex[:12]}"
        self._run(
            str(self.bin / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            name,
        )
        return self.database_url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        stop_group(self._server, sig=signal.SIGINT)
        self._server = None
        shutil.rmtree(self.base, ignore_errors=True)


CLAMD_BIN = Path(os.environ.get("EDOC_CLAMD_BIN", "/usr/sbin/clamd"))
# The EICAR anti-virus test file (a harmless standard string every scanner detects).
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Edoc-Test-Eicar.UNOFFICIAL"  # clamd marks local signatures so


class Clamd:
    """A clamd of our own: TCP on a free loopback port and a unix socket in its directory.

    Its signature database is one ``.hdb`` line written here (MD5 and size of the EICAR test
    file), so it starts in a second and needs no network and no freshclam.
    """

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="edoc-clamd-"))
        self.port = free_port()
        self.socket = self.base / "clamd.sock"
        self._proc: subprocess.Popen[bytes] | None = None
        db = self.base / "db"
        db.mkdir()
        md5 = hashlib.md5(EICAR).hexdigest()  # the .hdb format names files by MD5
        (db / "edoc-test.hdb").write_text(f"{md5}:{len(EICAR)}:Edoc-Test-Eicar\n")
        (self.base / "clamd.conf").write_text(
            "Foreground yes\n"
            f"DatabaseDirectory {db}\n"
            f"LocalSocket {self.socket}\n"
            f"TCPSocket {self.port}\n"
            "TCPAddr 127.0.0.1\n"
            f"LogFile {self.base / 'clamd.log'}\n"
            f"PidFile {self.base / 'clamd.pid'}\n"
            "StreamMaxLength 200M\n"
            "Bytecode no\n"
        )

    @property
    def tcp_url(self) -> str:
        """``tcp://127.0.0.1:PORT`` for ``[scan] clamd``."""
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def unix_url(self) -> str:
        """``unix:///…/clamd.sock`` for ``[scan] clamd``."""
        return f"unix://{self.socket}"

    def start(self) -> None:
        """Start clamd and wait until it accepts connections."""
        self._proc = subprocess.Popen(
            [str(CLAMD_BIN), "-c", str(self.base / "clamd.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.base,
        )

        def ready() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"clamd exited; see {self.base / 'clamd.log'}")
            return port_open(self.port) and self.socket.exists()

        wait_until(ready, 60, f"clamd on port {self.port}")

    def stop(self) -> None:
        """Stop clamd and remove its directory."""
        stop_group(self._proc, timeout=10)
        self._proc = None
        shutil.rmtree(self.base, ignore_errors=True)
