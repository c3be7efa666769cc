"""Real gateway processes for the fault, scale-out and hostile-input runs, and their accounting.

A :class:`GatewayProcess` is ``edoc-gateway serve`` started in its own process group on a free
loopback port, configured only through ``EDOC_`` environment variables (JSON per section), so
a test can SIGKILL it and start it again on the same port with the same store. The calling
systems, agencies and packets are the shared test world's (``tests.world``).

The accounting of a run (:func:`account`) reads the store the gateway wrote:
accepted = message ids the gateway answered with a receipt; delivered = those whose every
delivery reached its mailbox; lost = accepted - delivered; doubled = documents (sender,
DocumentId) stored under more than one message id; rejections counted on both sides (error
answers seen by clients, ``rejected`` audit records in the chain).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text

from gateway.credentials.auth import sign_request
from gateway.store.database import create_engine
from tests.services import PostgreSQL, free_port, stop_group, wait_until
from tests.world import (
    ADMIN_TOKEN,
    AGENCIES,
    G22,
    SECRETS,
    SYSTEMS,
    Pki,
)

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"

DONE_STATES = ("delivered", "acked")
READY_TIMEOUT_S = 180.0


@dataclass
class NodeConfig:
    """What one gateway process is told (as ``EDOC_`` environment variables)."""

    store_url: str
    amqp_url: str
    blob_dir: Path
    pki: Pki
    port: int = field(default_factory=free_port)
    max_packet_bytes: int = 2 * 2**20
    outbox_interval_s: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The environment of the process: JSON per settings section."""
        sections: dict[str, Any] = {
            "LISTEN": {"host": "127.0.0.1", "port": self.port},
            "STORE": {"url": self.store_url, "blob_dir": str(self.blob_dir)},
            "AMQP": {
                "url": self.amqp_url,
                "prefetch": 50,
                "retry_ladder": [1, 2, 4],
                "outbox_interval_s": self.outbox_interval_s,
                "outbox_older_than_s": 1.0,
            },
            "NODE": {
                "code": G22,
                "key_file": str(self.pki.paths["node.key"]),
                "cert_file": str(self.pki.paths["node.chain"]),
            },
            "TRUST": {"anchors": [str(self.pki.paths["ca.cert"])]},
            "LIMITS": {"max_packet_bytes": self.max_packet_bytes},
            "SYSTEMS": SYSTEMS,
            "DIRECTORY": {"agencies": AGENCIES},
            "ADMIN": {"tokens": [ADMIN_TOKEN]},
            "CALENDAR_FILE": str(REPO / "config" / "calendar.toml"),
            "LOG_LEVEL": "warning",
            **self.extra,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDOC_")}
        for name, value in sections.items():
            env[f"EDOC_{name}"] = value if isinstance(value, str) else json.dumps(value)
        env["PYTHONPATH"] = str(REPO)
        return env


class GatewayProcess:
    """``edoc-gateway serve`` as a real process: start, SIGKILL, start again."""

    def __init__(self, config: NodeConfig, log_path: Path) -> None:
        self.config = config
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the process (loopback)."""
        return f"http://127.0.0.1:{self.config.port}"

    @property
    def pid(self) -> int | None:
        """Process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self, *, wait: bool = True) -> None:
        """Start the process; with ``wait``, return once ``/readyz`` answers 200."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        code = "from gateway.cli import main; main()"
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code, "serve"],
            env=self.config.env(),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if wait:
            self.wait_ready()

    def ready(self) -> bool:
        """Return whether ``/readyz`` answers 200 now; raise if the process died."""
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"gateway exited {self._proc.returncode}; see {self.log_path}")
        return readyz_status(self.url) == 200

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Wait until the process answers ready."""
        wait_until(self.ready, timeout, f"gateway on port {self.config.port}")

    def kill(self) -> None:
        """SIGKILL the whole process group (no clean shutdown of anything)."""
        stop_group(self._proc, timeout=30, sig=signal.SIGKILL)
        self._proc = None

    def stop(self) -> None:
        """Stop gracefully (SIGTERM, SIGKILL after a while)."""
        stop_group(self._proc, timeout=30)
        self._proc = None


def readyz_status(base_url: str) -> int:
    """HTTP status of ``GET /readyz`` (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(base_url + "/readyz", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


class RestartablePostgreSQL(PostgreSQL):
    """The test PostgreSQL server with a restart that keeps its data directory."""

    def halt(self) -> None:
        """Fast-shutdown the server; its data stays for :meth:`start`."""
        stop_group(self._server, sig=signal.SIGINT)
        self._server = None


# -- client -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status and parsed JSON (``None`` when not JSON) or raw bytes."""

    status: int
    json: Any
    body: bytes

    @property
    def error_code(self) -> str | None:
        """The ``error.code`` of a native API error answer."""
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return str(self.json["error"].get("code"))
        return None


async def rest_call(
    session: aiohttp.ClientSession,
    base_url: str,
    system: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    timeout_s: float = 120.0,
) -> Answer:
    """Sign and send one native API request as ``system``."""
    headers = sign_request(system, SECRETS[system], method, path, body)
    async with session.request(
        method,
        base_url + path,
        data=body,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
    ) as response:
        raw = await response.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        return Answer(response.status, parsed, raw)


async def submit_until_answered(
    http: aiohttp.ClientSession,
    urls: Sequence[str],
    ledger: Ledger,
    number: str,
    body: bytes,
    *,
    system: str = "SYS-G22",
    deadline_s: float = 300.0,
) -> Answer:
    """Send one packet, resending the same bytes until a gateway answers it (bounded).

    A lost connection or a 503 ("try again later") moves on to the next URL of ``urls``, as
    a client behind a load balancer would; every other answer is recorded in ``ledger``.
    """
    deadline = time.monotonic() + deadline_s
    attempt = 0
    while True:
        url = urls[attempt % len(urls)]
        attempt += 1
        try:
            answer = await rest_call(http, url, system, "POST", "/v1/messages", body, timeout_s=60)
        except (aiohttp.ClientError, TimeoutError):
            ledger.unanswered += 1
        else:
            if answer.status != 503:
                ledger.record(answer, number)
                return answer
            ledger.unavailable += 1
        assert time.monotonic() < deadline, f"document {number} never answered"
        await asyncio.sleep(0.3)


# -- accounting ---------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the clients saw: receipts, error answers, requests without an answer."""

    accepted: set[str] = field(default_factory=set)
    documents: dict[str, str] = field(default_factory=dict)  # message id -> document number
    rejected: list[str] = field(default_factory=list)  # error codes answered
    unanswered: int = 0  # connection lost before an answer (retried by the client)
    unavailable: int = 0  # 503 answers: "try again later" (retried by the client)

    def record(self, answer: Answer, number: str = "") -> None:
        """Record one answer to a submit."""
        if answer.status in (200, 202) and isinstance(answer.json, dict):
            message_id = str(answer.json["message_id"])
            self.accepted.add(message_id)
            self.documents[message_id] = number
        else:
            self.rejected.append(answer.error_code or f"HTTP {answer.status}")


@dataclass(frozen=True)
class Accounting:
    """The end-of-scenario accounting (see the module docstring)."""

    accepted: int
    delivered: int
    lost: int
    doubled: int
    rejected_answers: int
    rejected_audited: int
    audit_problems: tuple[str, ...]

    def line(self, name: str) -> str:
        """One printable line of counts (collected by ``scripts/prove``)."""
        return (
            f"ACCOUNTING {name}: accepted={self.accepted} delivered={self.delivered} "
            f"lost={self.lost} doubled={self.doubled} rejected={self.rejected_answers} "
            f"rejected_audited={self.rejected_audited} audit_chain_problems="
            f"{len(self.audit_problems)}"
        )

    def assert_clean(self) -> None:
        """Assert the promises: nothing lost or doubled, every refusal answered and audited."""
        assert self.lost == 0, self
        assert self.delivered == self.accepted, self
        assert self.doubled == 0, self
        assert self.rejected_audited >= self.rejected_answers, self
        assert not self.audit_problems, self.audit_problems


async def _undelivered(conn: Any, ids: Iterable[str]) -> set[str]:
    wanted = set(ids)
    rows = (await conn.execute(text("SELECT message_id, state FROM deliveries"))).all()
    seen: dict[str, bool] = {}
    for message_id, state in rows:
        if message_id in wanted:
            seen[message_id] = seen.get(message_id, True) and state in DONE_STATES
    return {i for i in wanted if not seen.get(i, False)}


async def account(
    store_url: str, ledger: Ledger, *, wait_s: float = 180.0, rejected_floor: int = 0
) -> Accounting:
    """Wait (bounded) until every accepted message is delivered, then count.

    ``rejected_floor`` is the number of ``rejected`` audit records present before the run.
    """
    from gateway.audit.chain import verify_chain

    engine = create_engine(store_url)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            async with engine.connect() as conn:
                missing = await _undelivered(conn, ledger.accepted)
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        async with engine.connect() as conn:
            doubled = (
                await conn.execute(
                    text(
                        "SELECT COUNT(*) FROM (SELECT sender, document_id FROM messages "
                        "WHERE kind = 'document' GROUP BY sender, document_id "
                        "HAVING COUNT(*) > 1) AS d"
                    )
                )
            ).scalar_one()
            audited = (
                await conn.execute(text("SELECT COUNT(*) FROM audit_log WHERE event = 'rejected'"))
            ).scalar_one()
            problems = await verify_chain(conn)
    finally:
        await engine.dispose()
    accepted = len(ledger.accepted)
    return Accounting(
        accepted=accepted,
        delivered=accepted - len(missing),
        lost=len(missing),
        doubled=int(doubled),
        rejected_answers=len(ledger.rejected),
        rejected_audited=int(audited) - rejected_floor,
        audit_problems=tuple(problems),
    )


async def stored_count(store_url: str, sql: str) -> int:
    """Run one ``SELECT COUNT(*)`` against the store."""
    engine = create_engine(store_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()


def report(line: str) -> None:
    """Print a result line for ``scripts/prove`` (pytest shows it with ``-s`` or ``-rA``)."""
    print(line, flush=True)
    path = os.environ.get("PROVE_REPORT_FILE")  # set by scripts/prove only
    if path:
        with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
