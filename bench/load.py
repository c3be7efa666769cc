"""Load run: a fixed-rate mix of sends, pulls, acks and status messages against real gateways.

Starts (on 127.0.0.1 only) a private RabbitMQ node, a private PostgreSQL server and
``--gateways`` ``edoc-gateway serve`` processes sharing them, then offers operations at a
fixed rate (open loop), spread round-robin over the processes, for at most ``--seconds`` and
``--max-requests``:

- send (40 %): SYS-G22 submits a new document to H41 (resent on another process if the
  connection is lost or the answer is 503);
- pull (25 %): SYS-H41 reads its inbox;
- ack (20 %): SYS-H41 acknowledges a pulled document (the node then emits status 01);
- status (15 %): SYS-H41 reports status 03 "accepted" on an acknowledged document.

It prints throughput, p50/p99/p999 latency and error counts per operation, the CPU and peak
memory of the gateway processes, the accounting of the run (lost, doubled), and the ceilings
measured in the same run on the same services: ``bench/broker_ceiling.py`` (aio-pika
confirmed publish+consume alone) and ``edxml`` parse+verify of signed packets alone (plus the
pipeline on the unsigned packets sent), each with the ratio of the gateway's send rate to it.
The last line is exactly::

    load: sends_per_s=<n> ops_per_s=<n> send_p99_ms=<x> errors=<n> lost=<n> doubled=<n> \
broker_ratio=<sends/broker ceiling> edxml_ratio=<sends/edxml ceiling>

    python bench/load.py [--rate 40] [--seconds 20] [--max-requests 2000] [--gateways 2]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from edxml.model import StatusCode  # noqa: E402
from tests.faults.cluster import (  # noqa: E402
    GatewayProcess,
    Ledger,
    NodeConfig,
    account,
    rest_call,
    submit_until_answered,
)
from tests.world import G22, H41, Pki, document, status  # noqa: E402

MIX = ("send",) * 8 + ("pull",) * 5 + ("ack",) * 4 + ("status",) * 3
OPERATIONS = ("send", "pull", "ack", "status")
MAX_IN_FLIGHT = 200


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class LoadResult:
    """What a load run measured."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPERATIONS})
    errors: dict[str, collections.Counter[str]] = field(
        default_factory=lambda: {op: collections.Counter() for op in OPERATIONS}
    )
    ledger: Ledger = field(default_factory=Ledger)
    issued: int = 0
    elapsed_s: float = 0.0

    @property
    def error_count(self) -> int:
        """All failed operations."""
        return sum(sum(c.values()) for c in self.errors.values())

    def lines(self) -> list[str]:
        """Printable per-operation figures."""
        out = [f"offered {self.issued} operations in {self.elapsed_s:.1f} s"]
        for op in OPERATIONS:
            lat = self.latencies[op]
            rate = len(lat) / self.elapsed_s if self.elapsed_s else 0.0
            out.append(
                f"{op:<7} ok={len(lat):>5} {rate:7.1f}/s  p50={percentile(lat, 50) * 1000:7.1f} ms"
                f"  p99={percentile(lat, 99) * 1000:7.1f} ms"
                f"  p999={percentile(lat, 99.9) * 1000:7.1f} ms  errors={dict(self.errors[op])}"
            )
        return out


class _Mix:
    """The shared state of a run: what was pulled, acknowledged, reported."""

    def __init__(self, http: aiohttp.ClientSession, urls: Sequence[str], result: LoadResult):
        self.http = http
        self.urls = list(urls)
        self.result = result
        self.turn = itertools.count()
        self.seen: set[str] = set()
        self.to_ack: collections.deque[tuple[str, str]] = collections.deque()
        self.to_report: collections.deque[tuple[str, str]] = collections.deque()

    def _urls(self) -> list[str]:
        start = next(self.turn) % len(self.urls)
        return self.urls[start:] + self.urls[:start]

    async def run(self, op: str, index: int) -> None:
        if (op == "ack" and not self.to_ack) or (op == "status" and not self.to_report):
            op = "pull"
        started = time.perf_counter()
        try:
            ok = await getattr(self, op)(index)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.result.errors[op][type(exc).__name__] += 1
            return
        if ok:
            self.result.latencies[op].append(time.perf_counter() - started)

    async def _answered(self, op: str, system: str, body: bytes, number: str) -> bool:
        answer = await submit_until_answered(
            self.http, self._urls(), self.result.ledger, number, body, system=system
        )
        if answer.status in (200, 202):
            return True
        self.result.errors[op][answer.error_code or f"HTTP {answer.status}"] += 1
        return False

    async def send(self, index: int) -> bool:
        number = f"L{index:06d}"
        return await self._answered("send", "SYS-G22", document(number, to=(H41,)), number)

    async def pull(self, _index: int) -> bool:
        url = self._urls()[0]
        answer = await rest_call(self.http, url, "SYS-H41", "GET", "/v1/inbox?limit=200")
        if answer.status != 200:
            self.result.errors["pull"][answer.error_code or f"HTTP {answer.status}"] += 1
            return False
        for item in answer.json["items"]:
            if item["kind"] == "document" and item["message_id"] not in self.seen:
                self.seen.add(item["message_id"])
                self.to_ack.append((item["message_id"], item["document_id"]))
        return True

    async def ack(self, _index: int) -> bool:
        item = self.to_ack.popleft()
        path = f"/v1/messages/{item[0]}/ack"
        try:
            answer = await rest_call(self.http, self._urls()[0], "SYS-H41", "POST", path)
        except (aiohttp.ClientError, TimeoutError):
            self.to_ack.append(item)  # try again later, perhaps on another process
            raise
        if answer.status != 200:
            self.result.errors["ack"][answer.error_code or f"HTTP {answer.status}"] += 1
            return False
        self.to_report.append(item)
        return True

    async def status(self, _index: int) -> bool:
        message_id, document_id = self.to_report.popleft()
        body = status(H41, G22, document_id, StatusCode.ACCEPTED)
        return await self._answered("status", "SYS-H41", body, f"S{message_id}")


async def drive(
    http: aiohttp.ClientSession,
    urls: Sequence[str],
    *,
    rate: float,
    seconds: float,
    max_requests: int,
) -> LoadResult:
    """Offer the operation mix at ``rate`` per second over ``urls``; bounded in time and count."""
    result = LoadResult()
    mix = _Mix(http, urls, result)
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: list[asyncio.Task[None]] = []

    async def one(op: str, index: int) -> None:
        async with gate:
            await mix.run(op, index)

    started = time.perf_counter()
    for index in range(max_requests):
        due = started + index / rate
        if due - started >= seconds:
            break
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(MIX[index % len(MIX)], index)))
        result.issued += 1
    await asyncio.gather(*tasks)
    result.elapsed_s = time.perf_counter() - started
    return result


class ProcessSampler:
    """CPU seconds and peak RSS of some processes (and their children) over a run."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.procs = [psutil.Process(p) for p in pids]
        self.cpu0 = self._cpu()
        self.peak_rss = 0
        self._task: asyncio.Task[None] | None = None

    def _all(self) -> list[psutil.Process]:
        out: list[psutil.Process] = []
        for proc in self.procs:
            try:
                out.extend([proc, *proc.children(recursive=True)])
            except psutil.Error:
                continue
        return out

    def _cpu(self) -> float:
        total = 0.0
        for proc in self._all():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                continue
        return total

    async def _sample(self) -> None:
        while True:
            rss = 0
            for proc in self._all():
                try:
                    rss += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_rss = max(self.peak_rss, rss)
            await asyncio.sleep(0.5)

    def start(self) -> None:
        """Start sampling memory."""
        self._task = asyncio.create_task(self._sample())

    def stop(self) -> float:
        """Stop sampling; return the CPU seconds used since construction."""
        if self._task is not None:
            self._task.cancel()
        return self._cpu() - self.cpu0


def _rate(fn: Any, items: Sequence[bytes], seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn(items[count % len(items)])
        count += 1
    return count / (time.perf_counter() - started)


async def ceilings(amqp_url: str, pki: Pki, seconds: float) -> tuple[float, float, float]:
    """Measured now: ``bench/broker_ceiling.py`` (50 KB, confirms, quorum queue), the edxml
    pipeline on the unsigned packets the load sends, and edxml parse+verify of signed ones."""
    from bench.broker_ceiling import broker_ceiling
    from edxml.pipeline import check_packet
    from edxml.signature import sign

    broker = await broker_ceiling(amqp_url, 1000)
    unsigned = [document(f"C{i:05d}", to=(H41,)) for i in range(200)]
    signed = [sign(p, pki.signer.key, pki.signer.chain) for p in unsigned[:50]]
    anchors = [pki.ca.cert]

    def as_sent(packet: bytes) -> object:
        return check_packet(packet, policy="legacy", trust_anchors=[])

    def verified(packet: bytes) -> object:
        return check_packet(packet, policy="strict", trust_anchors=anchors)

    plain = _rate(as_sent, unsigned, seconds)
    verify = _rate(verified, signed, seconds)
    return broker, plain, verify


async def run(args: argparse.Namespace) -> str:
    """Start the services and gateways, drive the load, print the figures; return last line."""
    from tests.services import PostgreSQL, RabbitMQ

    with tempfile.TemporaryDirectory(prefix="edoc-load-") as tmp_name:
        tmp = Path(tmp_name)
        rabbit, postgres = RabbitMQ(tmp / "rmq"), PostgreSQL()
        gateways: list[GatewayProcess] = []
        try:
            rabbit.start()
            postgres.start()
            store_url = postgres.create_database()
            pki = Pki.create(tmp / "pki")
            for i in range(args.gateways):
                config = NodeConfig(store_url, rabbit.url(), tmp / "blobs", pki)
                gateways.append(GatewayProcess(config, tmp / f"gateway{i}.log"))
            for gateway in gateways:
                gateway.start()
            sampler = ProcessSampler([g.pid for g in gateways if g.pid])
            sampler.start()
            async with aiohttp.ClientSession() as http:
                result = await drive(
                    http,
                    [g.url for g in gateways],
                    rate=args.rate,
                    seconds=args.seconds,
                    max_requests=args.max_requests,
                )
            cpu_s = sampler.stop()
            accounting = await account(store_url, result.ledger, wait_s=120)
            for line in result.lines():
                print(line, flush=True)
            sends = len(result.latencies["send"]) / result.elapsed_s
            ops = sum(len(v) for v in result.latencies.values()) / result.elapsed_s
            print(
                f"gateway processes={args.gateways} cpu={cpu_s:.1f} s "
                f"({cpu_s / result.elapsed_s * 100:.0f} % of one core) "
                f"peak_rss={sampler.peak_rss / 2**20:.0f} MiB",
                flush=True,
            )
            print(accounting.line("load"), flush=True)
            broker, plain, edxml_rate = await ceilings(rabbit.url(rabbit.new_vhost()), pki, 3.0)
            print(
                f"ceilings: broker publish+consume {broker:.0f}/s (ratio {sends / broker:.3f}); "
                f"edxml pipeline, unsigned as sent {plain:.0f}/s (ratio {sends / plain:.3f}); "
                f"edxml parse+verify, signed {edxml_rate:.0f}/s (ratio {sends / edxml_rate:.3f})",
                flush=True,
            )
            return (
                f"load: sends_per_s={sends:.1f} ops_per_s={ops:.1f} "
                f"send_p99_ms={percentile(result.latencies['send'], 99) * 1000:.1f} "
                f"errors={result.error_count} lost={accounting.lost} "
                f"doubled={accounting.doubled} broker_ratio={sends / broker:.3f} "
                f"edxml_ratio={sends / edxml_rate:.3f}"
            )
        finally:
            for gateway in gateways:
                gateway.stop()
            postgres.stop()
            rabbit.kill()


def main() -> None:
    """Parse the arguments, run, print the last line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0, help="operations offered per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the run")
    parser.add_argument("--max-requests", type=int, default=2000, help="cap on operations")
    parser.add_argument("--gateways", type=int, default=2, help="gateway processes to start")
    args = parser.parse_args()
    print(asyncio.run(run(args)), flush=True)


if __name__ == "__main__":
    main()
