"""End-to-end benchmark: signed 50 KB documents through the running gateway and RabbitMQ.

Starts a private RabbitMQ node and an ``edoc-gateway serve`` process (SQLite store), or
several on a private PostgreSQL (``--store postgres --processes N``), then:
1. sustained: N documents sent with a fixed concurrency, until all are visible in the pull
   recipient's inbox → documents per second, gateway CPU seconds per document;
2. fixed rate: documents offered at 100/s → accept latency p50/p99 (HTTP round trip) and
   end-to-end latency p50/p99 (send → visible in the recipient's inbox);
3. overload: twice the sustained rate for 20 s, 10 % of the documents urgent (priority 3)
   → accept p99 of the accepted ones, how many were shed (503), urgent end-to-end p99;
4. ceilings measured in the same run: aio-pika confirmed publish + consume of the same
   messages alone (quorum queue), and ``edxml`` parse + schema + verify + rules alone.
``lost`` counts accepted documents never seen in the inbox. Everything listens on
127.0.0.1; the script stops what it started. Last line:
``e2e-bench: docs_per_s=<n> accept_p99_ms=<x> e2e_p99_ms=<y> cpu_ms_per_doc=<c>
broker_ceiling_per_s=<b> edxml_ceiling_per_s=<e> overload_accept_p99_ms=<o>
overload_shed=<s> urgent_e2e_p99_ms=<u> lost=<l>``.

    python bench/e2e_bench.py [--docs 600] [--rate 100] [--rate-seconds 6] [--overload-seconds 20]
    python bench/e2e_bench.py --store postgres --processes 2   (see bench/e2e_gateways.py)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edxml.build import build, new_document  # noqa: E402
from edxml.model import Attachment, Code, Organization, OtherInfo  # noqa: E402
from edxml.pipeline import check_packet  # noqa: E402
from edxml.signature import sign  # noqa: E402
from gateway.commands.local_services import LocalRabbitMQ, make_dev_pki  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from e2e_client import Api, InboxWatcher, print_stages  # noqa: E402
from e2e_gateways import G22, H41, Gateways  # noqa: E402

SIZE = 50 * 1024


def pct(values: list[float], p: float) -> float:
    """Return the ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def make_documents(
    n: int, key: Any, chain: list[x509.Certificate], tag: str, priority: int | None = None
) -> list[bytes]:
    """Return ``n`` distinct signed documents of about 50 KB (one zipped file each),
    of ``OtherInfo/Priority`` ``priority`` when given (3: hỏa tốc)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("van-ban.pdf", b"%PDF-1.7\n" + os.urandom(SIZE * 3 // 4 - 6_000))
    encoded = base64.b64encode(buf.getvalue()).decode()
    out = []
    for i in range(n):
        envelope = new_document(
            sender=Organization(G22, organ_name="Văn phòng Chính phủ"),
            to=[Organization(H41, organ_name="UBND tỉnh Nghệ An")],
            code=Code(f"{tag}{i}", "VPCP-BENCH"),
            subject="Đo hiệu năng cổng trao đổi văn bản",
            promulgation_date=date(2026, 1, 5),
            attachments=[Attachment("cid:1", "van-ban.zip", "Văn bản", "application/zip", encoded)],
            other_info=OtherInfo(priority=priority) if priority is not None else None,
        )
        out.append(sign(build(envelope), key, chain))
    return out


async def sustained(
    api: Api, watcher: InboxWatcher, docs: list[bytes], gateways: Gateways
) -> tuple:
    """Send every document with 16 in flight; return (docs/s, CPU s per doc)."""
    cpu0 = gateways.cpu()
    queue = list(docs)
    ids: set[str] = set()
    started = time.perf_counter()

    async def worker() -> None:
        while queue:
            body = queue.pop()
            receipt = await api.submit(body, shed_ok=True)
            if receipt is None:  # refused as overloaded: send it again a little later
                queue.append(body)
                await asyncio.sleep(0.05)
                continue
            ids.add(receipt["message_id"])

    await asyncio.gather(*(worker() for _ in range(16)))
    lost = await watcher.wait_for(ids)
    elapsed = time.perf_counter() - started
    cpu = gateways.cpu() - cpu0
    return len(docs) / elapsed, cpu / len(docs), lost


async def fixed_rate(api: Api, watcher: InboxWatcher, docs: list[bytes], rate: float) -> tuple:
    """Offer documents at ``rate``/s; return accept and end-to-end latencies (seconds)."""
    accept: list[float] = []
    sent_at: dict[str, float] = {}
    shed = 0
    start = time.perf_counter()

    async def one(i: int, body: bytes) -> None:
        nonlocal shed
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        t0 = time.perf_counter()
        receipt = await api.submit(body, shed_ok=True)
        if receipt is None:
            shed += 1
            return
        accept.append(time.perf_counter() - t0)
        sent_at[receipt["message_id"]] = t0

    await asyncio.gather(*(one(i, d) for i, d in enumerate(docs)))
    lost = await watcher.wait_for(set(sent_at))
    e2e = [max(0.0, watcher.seen[m] - t) for m, t in sent_at.items() if m in watcher.seen]
    if shed:
        print(f"at {rate:g}/s: {shed} documents shed (the process was overloaded)", flush=True)
    return accept, e2e, lost


async def overload(
    api: Api, watcher: InboxWatcher, docs: list[tuple[bytes, bool]], rate: float
) -> tuple[list[float], int, list[float], int]:
    """Offer ``docs`` (body, urgent) at ``rate``/s, without waiting for answers to send the
    next; return accept latencies of the accepted ones, the number shed, the end-to-end
    latencies of the accepted urgent ones, and the accepted ones never delivered."""
    accept: list[float] = []
    shed = 0
    sent_at: dict[str, tuple[float, bool]] = {}
    start = time.perf_counter()

    async def one(i: int, body: bytes, urgent: bool) -> None:
        nonlocal shed
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        t0 = time.perf_counter()
        receipt = await api.submit(body, shed_ok=True)
        if receipt is None:
            shed += 1
            return
        accept.append(time.perf_counter() - t0)
        sent_at[receipt["message_id"]] = (t0, urgent)

    await asyncio.gather(*(one(i, body, urgent) for i, (body, urgent) in enumerate(docs)))
    lost = await watcher.wait_for(set(sent_at))
    urgent_e2e = [
        max(0.0, watcher.seen[m] - t)
        for m, (t, urgent) in sent_at.items()
        if urgent and m in watcher.seen
    ]
    return accept, shed, urgent_e2e, lost


async def broker_ceiling(url: str, docs: list[bytes]) -> float:
    """aio-pika alone: confirmed publish (100 in flight) and consume of the same bodies."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=100)
        queue = await channel.declare_queue(
            "bench.ceiling", durable=True, arguments={"x-queue-type": "quorum"}
        )
        exchange = channel.default_exchange
        inflight = asyncio.Semaphore(100)
        done = asyncio.Event()
        received = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received == len(docs):
                done.set()

        started = time.perf_counter()
        tag = await queue.consume(on_message)

        async def publish(body: bytes) -> None:
            async with inflight:
                await exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key="bench.ceiling",
                )

        await asyncio.gather(*(publish(b) for b in docs))
        await asyncio.wait_for(done.wait(), 300)
        rate = len(docs) / (time.perf_counter() - started)
        await queue.cancel(tag)  # before the delete: no "cancelled by the broker" warning
        await queue.delete(if_unused=False, if_empty=False)
        return rate
    finally:
        await connection.close()


def edxml_ceiling(docs: list[bytes], anchors: list[x509.Certificate], seconds: float) -> float:
    """edxml alone: parse + schema + signature + rules + attachments, one core."""
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        check_packet(docs[count % len(docs)], policy="strict", trust_anchors=anchors)
        count += 1
    return count / (time.perf_counter() - started)


def _start_profiler(out: str | None, pid: int) -> subprocess.Popen[bytes] | None:
    """Attach ``py-spy record`` (collapsed stacks) to the gateway when asked; developer aid."""
    if not out:
        return None
    command = ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--output", out]
    log = open(out + ".log", "wb")  # noqa: SIM115  (kept open for the profiler)
    return subprocess.Popen(command, stdout=log, stderr=log)


async def run(args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="edoc-bench-") as tmp_name:
        tmp = Path(tmp_name)
        pki = make_dev_pki(tmp / "pki")
        key = load_pem_private_key(pki.signer_key.read_bytes(), password=None)
        chain = x509.load_pem_x509_certificates(pki.signer_chain.read_bytes())
        anchors = x509.load_pem_x509_certificates(pki.ca_cert.read_bytes())
        n_rate = int(args.rate * args.rate_seconds)
        print(f"signing {args.docs + n_rate} documents of ~50 KB …", flush=True)
        docs = make_documents(args.docs, key, chain, "S")
        rate_docs = make_documents(n_rate, key, chain, "R")
        print(f"document size {len(docs[0])} bytes", flush=True)
        rabbit = LocalRabbitMQ()
        await asyncio.to_thread(rabbit.start)
        gateways = Gateways(tmp, pki, rabbit.url, args.store, args.processes)
        profiler: subprocess.Popen[bytes] | None = None
        try:
            await gateways.start()
            profiler = _start_profiler(args.profile, gateways.popen[0].pid)
            connector = aiohttp.TCPConnector(limit=64)
            async with aiohttp.ClientSession(connector=connector) as session:
                api = Api(session, gateways.bases)
                watcher = InboxWatcher(api)
                watching = asyncio.create_task(watcher.run())
                await api.submit(docs.pop())  # warm-up
                docs_per_s, cpu_per_doc, lost = await sustained(api, watcher, docs, gateways)
                for base in gateways.bases:
                    await print_stages(session, base)
                print(
                    f"sustained: {docs_per_s:.1f} docs/s, {cpu_per_doc * 1000:.1f} ms CPU/doc "
                    "(gateway and its check workers)",
                    flush=True,
                )
                accept, e2e, lost_rate = await fixed_rate(api, watcher, rate_docs, args.rate)
                print(
                    f"at {args.rate:g}/s: accept p50 {statistics.median(accept) * 1000:.1f} ms "
                    f"p99 {pct(accept, 99) * 1000:.1f} ms; end-to-end p50 "
                    f"{statistics.median(e2e) * 1000:.1f} ms p99 {pct(e2e, 99) * 1000:.1f} ms",
                    flush=True,
                )
                over_rate = 2 * docs_per_s
                n_over = int(over_rate * args.overload_seconds)
                n_urgent = n_over // 10
                print(f"signing {n_over} overload documents ({n_urgent} urgent) …", flush=True)
                urgent_docs = make_documents(n_urgent, key, chain, "U", priority=3)
                plain = make_documents(n_over - n_urgent, key, chain, "O")
                mixed = [(d, False) for d in plain]
                for i, d in enumerate(urgent_docs):  # every tenth document is urgent
                    mixed.insert(i * 10 + 5, (d, True))
                # Its own session without a connection limit: the client must not queue
                # the offered load itself (a limit of 64 would hide the overload).
                async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0)
                ) as flood_session:
                    flood = Api(flood_session, gateways.bases)
                    over_accept, shed, urgent_e2e, lost_over = await overload(
                        flood, watcher, mixed[:n_over], over_rate
                    )
                watching.cancel()
            print(
                f"overload at {over_rate:.0f}/s for {args.overload_seconds:g} s: "
                f"{len(over_accept)} accepted, {shed} shed; accept p50 "
                f"{statistics.median(over_accept) * 1000:.1f} ms p99 "
                f"{pct(over_accept, 99) * 1000:.1f} ms; urgent end-to-end p50 "
                f"{statistics.median(urgent_e2e or [0]) * 1000:.1f} ms p99 "
                f"{pct(urgent_e2e or [0], 99) * 1000:.1f} ms",
                flush=True,
            )
            lost += lost_rate + lost_over
        finally:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(timeout=60)
            gateways.stop()
        broker = await broker_ceiling(rabbit.url, rate_docs + docs[: max(0, 1000 - n_rate)])
        await asyncio.to_thread(rabbit.stop)
        edxml_rate = edxml_ceiling(rate_docs, anchors, args.edxml_seconds)
        print(f"ceilings: broker {broker:.0f}/s, edxml {edxml_rate:.0f}/s", flush=True)
        return (
            f"e2e-bench: docs_per_s={docs_per_s:.1f} accept_p99_ms={pct(accept, 99) * 1000:.1f} "
            f"e2e_p99_ms={pct(e2e, 99) * 1000:.1f} cpu_ms_per_doc={cpu_per_doc * 1000:.1f} "
            f"broker_ceiling_per_s={broker:.0f} edxml_ceiling_per_s={edxml_rate:.0f} "
            f"overload_accept_p99_ms={pct(over_accept, 99) * 1000:.1f} overload_shed={shed} "
            f"urgent_e2e_p99_ms={pct(urgent_e2e or [0], 99) * 1000:.1f} lost={lost}"
        )


def main() -> None:
    """Parse the arguments, run the benchmark, print the summary line last."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=600, help="documents in the sustained run")
    parser.add_argument("--rate", type=float, default=100.0, help="offered rate, documents/s")
    parser.add_argument("--rate-seconds", type=float, default=6.0, help="fixed-rate duration")
    parser.add_argument("--edxml-seconds", type=float, default=3.0)
    parser.add_argument(
        "--overload-seconds", type=float, default=20.0, help="overload phase: twice the rate"
    )
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--processes", type=int, default=1, help="gateway processes (several: --store postgres)"
    )
    parser.add_argument("--profile", help="write py-spy collapsed stacks of the gateway here")
    print(asyncio.run(run(parser.parse_args())), flush=True)


if __name__ == "__main__":
    main()
