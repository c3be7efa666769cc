"""Certificate expiry: metrics and log warnings from 60 days ahead."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from structlog.testing import capture_logs

from gateway.ops import certs, metrics
from tests.pki import make_ca, make_leaf, write_pems


def expiry_metric(name: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(
        "edoc_gateway_certificate_expiry_seconds", {"certificate": name}
    )


def leaf_ending_in(tmp_path: Path, name: str, days: float) -> Path:
    ca = make_ca("Test Root CA", "ec")
    now = datetime.now(UTC)
    leaf = make_leaf(
        ca, name, "ec", not_before=now - timedelta(days=400), not_after=now + timedelta(days=days)
    )
    return write_pems(tmp_path, **{name: leaf})[f"{name}.cert"]


def test_names_are_bounded_by_the_configuration(tmp_path: Path) -> None:
    names = certs.certificate_names(
        tmp_path / "node.crt", (tmp_path / "a" / "bcy.pem", tmp_path / "b" / "bcy.pem")
    )
    assert list(names) == ["node", "anchor:bcy", "anchor:bcy-2"]


def test_certificate_far_from_expiry_sets_metric_without_warning(tmp_path: Path) -> None:
    path = leaf_ending_in(tmp_path, "fine", 365)
    with capture_logs() as logs:
        [status] = certs.check_certificates({"fine": path})
    assert not status.expiring and not status.expired
    assert logs == []
    value = expiry_metric("fine")
    assert value is not None and 364 * 86400 < value <= 365 * 86400


def test_certificate_within_60_days_is_warned(tmp_path: Path) -> None:
    path = leaf_ending_in(tmp_path, "soon", 45)
    with capture_logs() as logs:
        [status] = certs.check_certificates({"node": path})
    assert status.expiring and not status.expired
    [line] = logs
    assert line["event"] == "certificate.expiring" and line["log_level"] == "warning"
    assert line["certificate"] == "node" and 44 < line["days_left"] <= 45


def test_expired_certificate_is_an_error_with_negative_metric(tmp_path: Path) -> None:
    path = leaf_ending_in(tmp_path, "old", -3)
    with capture_logs() as logs:
        [status] = certs.check_certificates({"anchor:old": path})
    assert status.expired
    assert logs[0]["event"] == "certificate.expired" and logs[0]["log_level"] == "error"
    value = expiry_metric("anchor:old")
    assert value is not None and value < 0


def test_earliest_certificate_of_a_bundle_counts(tmp_path: Path) -> None:
    far = leaf_ending_in(tmp_path, "far", 900).read_bytes()
    near = leaf_ending_in(tmp_path, "near", 20).read_bytes()
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(far + near)
    status = certs.inspect_certificate("bundle", bundle)
    assert status.seconds_left is not None and status.seconds_left < 21 * 86400
    assert "near" in status.subject


def test_unreadable_file_is_reported_not_raised(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with capture_logs() as logs:
        statuses = certs.check_certificates({"bad": bad, "missing": tmp_path / "none.pem"})
    assert all(s.error and s.expired for s in statuses)
    assert [line["event"] for line in logs] == ["certificate.unreadable"] * 2


async def test_watch_context_checks_at_start_and_stops_cleanly(tmp_path: Path) -> None:
    path = leaf_ending_in(tmp_path, "watched", 10)
    context = certs.watch_context({"watched": path}, interval_s=3600)
    gen = context(object())
    with capture_logs() as logs:
        await gen.__anext__()
        for _ in range(200):
            if logs:
                break
            await asyncio.sleep(0.05)
        with contextlib.suppress(StopAsyncIteration):
            await gen.__anext__()
    assert logs and logs[0]["event"] == "certificate.expiring"
    assert expiry_metric("watched") is not None
