"""The gateway processes of ``bench/e2e_bench.py``: one on SQLite, or N on one PostgreSQL.

``--store sqlite`` (default) runs one ``edoc-gateway serve`` on a SQLite file with a blob
directory. ``--store postgres --processes 2`` starts a private PostgreSQL (the test
tooling, ``tests/services.py``: ``fsync=off``) and N processes of one node on it, each with
a blob directory of its own (the default blob store of a PostgreSQL node is the database,
so any process serves any document), one RabbitMQ. The client spreads its sends over the
processes; CPU is summed over every process and its check workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from gateway.commands.local_services import free_port, port_open

REPO = Path(__file__).resolve().parents[1]
G22, H41 = "000.00.00.G22", "000.00.00.H41"
SECRETS = {"bench-g22": "bench-secret-g22", "bench-h41": "bench-secret-h41"}


def write_config(
    tmp: Path, pki: Any, amqp_url: str, port: int, store_url: str, blob_dir: Path, name: str
) -> Path:
    """Write the configuration of one gateway process of the run."""
    agencies = (
        f'  {{ code = "{G22}", name = "VPCP", systems = "bench-g22" }},\n'
        f'  {{ code = "{H41}", name = "UBND Nghệ An", systems = "bench-h41" }},\n'
    )
    systems = "".join(
        f'[[systems]]\nid = "{s}"\nsecret = "{v}"\nagencies = ["{c}"]\npolicy = "strict"\n'
        for (s, v), c in zip(SECRETS.items(), (G22, H41), strict=True)
    )
    path = tmp / f"bench-{name}.toml"
    path.write_text(
        f'calendar_file = "{REPO / "config" / "calendar.toml"}"\nlog_level = "warning"\n'
        f'[listen]\nhost = "127.0.0.1"\nport = {port}\n'
        f'[node]\ncode = "{G22}"\nkey_file = "{pki.node_key}"\ncert_file = "{pki.node_chain}"\n'
        f'[store]\nurl = "{store_url}"\nblob_dir = "{blob_dir}"\n'
        f'[amqp]\nurl = "{amqp_url}"\nprefetch = 100\nretry_ladder = [1, 5]\n'
        f'[trust]\nanchors = ["{pki.ca_cert}"]\n'
        f"[directory]\nagencies = [\n{agencies}]\n{systems}",
        encoding="utf-8",
    )
    return path


class Gateways:
    """Starts and stops the run's gateway processes (and PostgreSQL when asked)."""

    def __init__(self, tmp: Path, pki: Any, amqp_url: str, store: str, processes: int) -> None:
        if store == "sqlite" and processes != 1:
            raise SystemExit("--store sqlite runs one process (SQLite has one writer)")
        self.tmp, self.pki, self.amqp_url = tmp, pki, amqp_url
        self.store, self.processes = store, processes
        self.popen: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        self._pg: Any = None

    @property
    def bases(self) -> list[str]:
        """The base URL of each process."""
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    async def start(self) -> None:
        """Start the store (PostgreSQL) and every process; return once all listen."""
        store_url = f"sqlite:///{self.tmp / 'gw.db'}"
        if self.store == "postgres":
            sys.path.insert(0, str(REPO))
            from tests.services import PostgreSQL  # the test tooling: initdb in a temp dir

            self._pg = PostgreSQL()
            await asyncio.to_thread(self._pg.start)
            store_url = await asyncio.to_thread(self._pg.create_database)
        for i in range(self.processes):
            port = free_port()
            name = f"gw{i}"
            config = write_config(
                self.tmp, self.pki, self.amqp_url, port, store_url, self.tmp / f"blobs-{name}", name
            )
            self.popen.append(
                subprocess.Popen(
                    [sys.executable, "-c", "from gateway.cli import main; main()", "serve",
                     "-c", str(config)],
                    cwd=REPO,
                    stdout=subprocess.DEVNULL,
                    stderr=(self.tmp / f"{name}.log").open("wb"),
                    start_new_session=True,
                )
            )  # fmt: skip
            self.ports.append(port)
        for port in self.ports:
            for _ in range(600):
                if port_open(port):
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)

    def cpu(self) -> float:
        """CPU seconds (user + system) of every process and its check workers so far."""
        total = 0.0
        for popen in self.popen:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(popen.pid)
                for p in (proc, *proc.children(recursive=True)):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += sum(p.cpu_times()[:2])
        return total

    def stop(self) -> None:
        """Stop every process, then PostgreSQL."""
        for popen in self.popen:
            popen.terminate()
        for popen in self.popen:
            try:
                popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                popen.kill()
        if self._pg is not None:
            self._pg.stop()


def spread(bases: list[str]) -> itertools.cycle[str]:
    """The processes in turn, for the client's sends."""
    return itertools.cycle(bases)
