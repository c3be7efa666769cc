"""The edXML stages of intake (parse, schema, signature, attachments, rules), in or out of process.

These stages are pure CPU work (about 3–6 ms for a signed 50 KB packet, mostly the RSA
signature check and canonicalisation) and would hold the event loop that also serves HTTP,
the store and RabbitMQ. :class:`CheckPool` runs them in worker processes
(``concurrent.futures.ProcessPoolExecutor``, ``spawn`` start method: a worker imports only
this module, ``edxml`` and the light ``gateway.errors``/``gateway.core.calendar``/
``gateway.legal.contents``) so a second
core does them. What crosses the process boundary is plain data: the packet bytes, the
policy, the trust anchors as DER, the model built from the signed element and the verdict.
A refusal raised in a worker is raised again, unchanged, in the caller.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import multiprocessing
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar

import structlog
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from edxml.model import Envelope, StatusMessage
from edxml.pipeline import (
    stage_attachments,
    stage_parse,
    stage_rules,
    stage_schema,
    stage_verify,
)
from gateway.core.calendar import VIETNAM
from gateway.legal.contents import AttachmentFacts, attachment_facts, needs_contents

log = structlog.get_logger(__name__)
Timings = dict[str, float]  # seconds spent per metrics stage (parse, schema, signature)
LARGE_PACKET_BYTES = 4 * 2**20


@dataclass(frozen=True)
class Verdict:
    """The signature verdict kept with an accepted packet (see ``edxml.signature``)."""

    status: str
    signer: str | None = None
    algorithm: str | None = None


@dataclass(frozen=True)
class Checked:
    """A packet that passed the edXML stages: model, signature verdict, warnings."""

    packet: Envelope | StatusMessage
    verification: Verdict
    warnings: tuple[dict[str, str], ...]
    legal: Any = None  # gateway.legal.review.LegalReport, added after the checks
    contents: tuple[AttachmentFacts, ...] = ()  # what the legal review reports of each one


def run_checks(
    raw: bytes, policy: str, anchors: Sequence[x509.Certificate], now: datetime
) -> tuple[Checked, Timings]:
    """Run the edXML stages on ``raw``; return the result and the time spent per stage.

    Raises the ``EdxmlError`` of the first stage that refuses the packet.
    """
    timings: Timings = {}
    clock = time.perf_counter

    def timed(stage: str, started: float) -> float:
        done = clock()
        timings[stage] = timings.get(stage, 0.0) + done - started
        return done

    t = clock()
    root = stage_parse(raw)
    t = timed("parse", t)
    stage_schema(root)
    t = timed("schema", t)
    verification = stage_verify(root, policy, anchors, now)
    packet = verification.packet  # only the signed model is used from here on
    contents = attachment_facts(stage_attachments(packet))
    t = timed("signature", t)
    found = stage_rules(packet, now.astimezone(VIETNAM).date())
    timed("schema", t)
    warnings = tuple(i.as_dict() for i in (*verification.warnings, *found))
    verdict = Verdict(verification.status, verification.signer, verification.algorithm)
    return Checked(packet, verdict, warnings, contents=contents), timings


@lru_cache(maxsize=8)
def _anchors_from_der(ders: tuple[bytes, ...]) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_der_x509_certificate(d) for d in ders)


def _run_in_worker(
    raw: bytes, policy: str, anchors: tuple[bytes, ...], now: datetime, scan: bool
) -> tuple[Checked, Timings] | tuple[BaseException, tuple[object, ...]]:
    try:
        checked, timings = run_checks(raw, policy, _anchors_from_der(anchors), now)
        if needs_contents(scan, checked.contents):
            return checked, timings  # the legal review reads them (scan, PDF signatures)
        return _without_attachments(checked), timings
    except Exception as exc:
        # Our errors' __init__ rewrites ``args``; send the original ones to restore them.
        return exc, exc.args


def _without_attachments(checked: Checked) -> Checked:
    """The result sent back to the event loop: everything but the attachments' base64 text.

    They were checked in the worker, which also summed up what the legal review reports
    of them (``Checked.contents``), and the caller keeps the packet's bytes; pickling them
    back cost as much as the rest of the result (a 44 KB result for a 50 KB packet).
    Sent only when :func:`gateway.legal.contents.needs_contents` says the review needs them.
    """
    packet = checked.packet
    if isinstance(packet, Envelope) and packet.attachments:
        slim = tuple(dataclasses.replace(a, encoded="") for a in packet.attachments)
        return dataclasses.replace(checked, packet=dataclasses.replace(packet, attachments=slim))
    return checked


def default_workers() -> int:
    """Workers for the checks: every core but the one the event loop runs on (at least 1)."""
    return max(1, (os.cpu_count() or 1) - 1)


class CheckPool:
    """Runs :func:`run_checks` in a shared pool of worker processes.

    One pool per process, created on first use and shared by every ``Intake`` (tests make
    many); workers start once. ``workers=0`` runs the checks inline instead. If the pool
    breaks (a worker killed), the check runs inline and the pool is rebuilt on next use.
    """

    _shared: ClassVar[dict[tuple[str, int], concurrent.futures.ProcessPoolExecutor]] = {}

    def __init__(
        self,
        anchors: Sequence[x509.Certificate],
        workers: int | None = None,
        *,
        large_bytes: int = LARGE_PACKET_BYTES,
    ) -> None:
        self.anchors = tuple(anchors)
        self.workers = default_workers() if workers is None else workers
        self.large_bytes = large_bytes
        self._ders = tuple(a.public_bytes(Encoding.DER) for a in self.anchors)

    def _lane(self, size: int) -> tuple[str, int]:
        # Large packets (seconds of work each) have a worker of their own, so that the
        # small ones behind them in a FIFO pool do not wait for them.
        return ("large", 1) if size >= self.large_bytes else ("small", self.workers)

    def _executor(self, lane: tuple[str, int]) -> concurrent.futures.ProcessPoolExecutor:
        pool = self._shared.get(lane)
        if pool is None:
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=lane[1], mp_context=multiprocessing.get_context("spawn")
            )
            self._shared[lane] = pool
        return pool

    async def check(
        self, raw: bytes, policy: str, now: datetime, *, scan: bool = False
    ) -> tuple[Checked, Timings]:
        """Run the checks on ``raw`` (in a worker when there is a pool); raise the refusal.

        ``scan``: the legal review will stream the attachments to a malware scanner, so
        the worker sends their content back (see ``gateway.legal.contents``)."""
        if self.workers <= 0:
            return run_checks(raw, policy, self.anchors, now)
        loop = asyncio.get_running_loop()
        lane = self._lane(len(raw))
        try:
            outcome = await loop.run_in_executor(
                self._executor(lane), _run_in_worker, raw, policy, self._ders, now, scan
            )
        except concurrent.futures.BrokenExecutor as exc:
            log.warning("intake check pool broken; checking inline", error=repr(exc))
            self._shared.pop(lane, None)
            return run_checks(raw, policy, self.anchors, now)
        first, second = outcome
        if isinstance(first, BaseException):
            first.args = second  # type: ignore[assignment]
            raise first
        return outcome  # type: ignore[return-value]
