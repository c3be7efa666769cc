"""Benchmark of the agency directory at national size (125,000 agencies).

Generates a catalogue shaped like the axis's (QCVN 102 codes, an old code on half of the
agencies, merged agencies and successor chains), then prints:

- import time (CSV bytes → committed diff, with one change record each) into SQLite and
  into PostgreSQL (a throw-away cluster made with ``initdb`` on a free loopback port);
- in a fresh child process: resolve latency p50/p99 by new code, old code and successor
  chain; resident memory (RSS) of the process with the directory loaded; and the time for
  that running ``SqlDirectory`` (polling every second) to see a change committed by this
  process.

    python bench/directory_bench.py [--agencies N] [--no-postgres]

The last line is exactly::

    directory-bench: agencies=<n> import_s=<x> resolve_p99_us=<y> rss_mb=<z> change_visible_s=<w>

(``import_s``: the slower of SQLite and PostgreSQL; ``resolve_p99_us``: the worst of the
three kinds). Targets: import ≤ 10 s, p99 ≤ 20 µs, RSS ≤ 200 MB, change visible ≤ 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.directory.changes import import_agencies, parse_import, set_status  # noqa: E402
from gateway.directory.resolver import RECORD_FIELDS  # noqa: E402
from gateway.logging import configure_logging  # noqa: E402
from gateway.store.database import create_engine, create_schema  # noqa: E402

SAMPLES = 20_000


def generate(n: int, seed: int = 20) -> tuple[bytes, dict[str, list[str]]]:
    """Return a CSV catalogue of ``n`` agencies and sample codes of each kind."""
    rng = random.Random(seed)
    tops = [f"000.00.00.G{i:02d}" for i in range(1, 41)] + [
        f"000.00.00.H{i:02d}" for i in range(1, 64)
    ]
    rows: list[dict[str, Any]] = [
        {"code": c, "name": f"Cơ quan cấp 1 {c[-3:]}", "level": 1} for c in tops
    ]
    new, old, chain = [], [], []
    i = 0
    while len(rows) < n:
        top = tops[i % len(tops)]
        unit, sub = divmod(i // len(tops), 100)
        code = f"{unit + 1:03d}.{sub:02d}.00.{top[-3:]}"
        i += 1
        row: dict[str, Any] = {
            "code": code,
            "name": f"Đơn vị hành chính số {i} thuộc {top[-3:]}",
            "parent_code": top,
            "level": 2,
        }
        if i % 2 == 0:
            row["old_code"] = f"{top[-3:]}.{i:06d}"
            old.append(row["old_code"])
        else:
            new.append(code)
        rows.append(row)
    # Successor chains: a → b → c (live), 1 % of the catalogue.
    live = [r for r in rows[len(tops) :] if "status" not in r]
    for k in range(0, max(3, n // 100), 3):
        a, b, c = live[k], live[k + 1], live[k + 2]
        a.update(status="merged", successors=b["code"])
        b.update(status="merged", successors=c["code"])
        chain.append(a["code"])
    chain_set = {r["code"] for r in rows if r.get("status")}
    new = [c for c in new if c not in chain_set]
    old = [r["old_code"] for r in rows if r.get("old_code") and r["code"] not in chain_set]
    rng.shuffle(new)
    rng.shuffle(old)
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RECORD_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode(), {"new": new, "old": old, "chain": chain}


async def timed_import(url: str, data: bytes) -> float:
    """Create the schema, then import ``data`` and return the seconds it took."""
    engine = create_engine(url)
    try:
        await create_schema(engine)
        start = time.perf_counter()
        parsed = parse_import(data, "csv")
        result = await import_agencies(engine, parsed, actor="bench", retire_missing=False)
        elapsed = time.perf_counter() - start
        assert len(result.added) == len(parsed.agencies)
        return elapsed
    finally:
        await engine.dispose()


# -- child: load, resolve, RSS, change visibility -----------------------------------------


async def child(url: str, samples_file: str) -> None:
    """Load a SqlDirectory, measure resolves and RSS, then wait for the parent's change."""
    import psutil

    from gateway.directory.live import SqlDirectory

    samples = json.loads(Path(samples_file).read_text(encoding="utf-8"))
    engine = create_engine(url)
    directory = SqlDirectory(engine, poll_interval=1.0)
    base_mb = psutil.Process().memory_info().rss / 2**20
    start = time.perf_counter()
    await directory.start()
    load_s = time.perf_counter() - start
    rss_mb = psutil.Process().memory_info().rss / 2**20
    figures: dict[str, Any] = {
        "load_s": load_s,
        "rss_mb": rss_mb,
        "base_mb": base_mb,
        "agencies": len(directory),
    }
    clock = time.perf_counter_ns
    for kind in ("new", "old", "chain"):
        codes = (samples[kind] * (SAMPLES // max(1, len(samples[kind])) + 1))[:SAMPLES]
        for code in codes[:1000]:  # warm-up
            directory.resolve(code)
        timings = []
        for code in codes:
            t0 = clock()
            directory.resolve(code)
            timings.append(clock() - t0)
        timings.sort()
        figures[kind] = {
            "p50_us": timings[len(timings) // 2] / 1000,
            "p99_us": timings[int(len(timings) * 0.99)] / 1000,
        }
    target = samples["new"][0]
    print(json.dumps(figures), flush=True)
    sys.stdin.readline()  # the parent commits its change, then writes a line
    while directory.get(target).status != "suspended":  # type: ignore[union-attr]
        await asyncio.sleep(0.005)
    print(json.dumps({"seen_at": time.time()}), flush=True)
    await directory.close()
    await engine.dispose()


def measure_running(url: str, samples: dict[str, list[str]]) -> dict[str, Any]:
    """Run the child on ``url``; make one change and time until the child sees it."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(samples, fh)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", url, fh.name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        figures = json.loads(proc.stdout.readline())

        async def change() -> float:
            engine = create_engine(url)
            try:
                await set_status(engine, [samples["new"][0]], "suspended", actor="bench")
                return time.time()
            finally:
                await engine.dispose()

        committed_at = asyncio.run(change())
        proc.stdin.write("go\n")
        proc.stdin.flush()
        seen = json.loads(proc.stdout.readline())
        figures["change_visible_s"] = max(0.0, seen["seen_at"] - committed_at)
        proc.wait(timeout=120)
        return figures
    finally:
        if proc.poll() is None:
            proc.kill()
        os.unlink(fh.name)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agencies", type=int, default=125_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_logging("warning")  # standard output carries only figures
    if args.child:
        asyncio.run(child(*args.child))
        return

    data, samples = generate(args.agencies)
    print(
        f"catalogue: {args.agencies} agencies, {len(data) / 2**20:.1f} MB CSV, "
        f"{len(samples['chain'])} successor chains"
    )
    imports: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="edoc-dirbench-") as tmp:
        sqlite_url = f"sqlite:///{tmp}/directory.db"
        imports["sqlite"] = asyncio.run(timed_import(sqlite_url, data))
        print(f"import sqlite: {imports['sqlite']:.2f} s (target ≤ 10 s)")
        if not args.no_postgres:
            from tests.services import PostgreSQL

            server = PostgreSQL()
            try:
                server.start()
                pg_url = server.create_database()
                imports["postgresql"] = asyncio.run(timed_import(pg_url, data))
                print(f"import postgresql: {imports['postgresql']:.2f} s (target ≤ 10 s)")
            finally:
                server.stop()
        running = measure_running(sqlite_url, samples)
    print(f"load into a running directory: {running['load_s']:.2f} s")
    worst = 0.0
    for kind in ("new", "old", "chain"):
        p50, p99 = running[kind]["p50_us"], running[kind]["p99_us"]
        worst = max(worst, p99)
        print(f"resolve {kind:5s}: p50 {p50:.2f} µs, p99 {p99:.2f} µs (target p99 ≤ 20 µs)")
    print(
        f"RSS with directory loaded: {running['rss_mb']:.0f} MB (target ≤ 200 MB; "
        f"{running['base_mb']:.0f} MB before loading)"
    )
    print(
        f"change visible in running directory: {running['change_visible_s']:.2f} s (target ≤ 2 s)"
    )
    print(
        f"directory-bench: agencies={running['agencies']} import_s={max(imports.values()):.2f} "
        f"resolve_p99_us={worst:.2f} rss_mb={running['rss_mb']:.0f} "
        f"change_visible_s={running['change_visible_s']:.2f}"
    )


if __name__ == "__main__":
    main()
