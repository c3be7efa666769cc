"""JSON log lines: fields, secret removal, one line per intake stage."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from gateway.logging import configure_logging, get_logger, log_stage
from gateway.ops import metrics


@pytest.fixture
def stream() -> io.StringIO:
    out = io.StringIO()
    configure_logging("info", stream=out)
    yield out
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_lines_are_json_with_timestamp_level_and_context(stream: io.StringIO) -> None:
    log = get_logger("gateway.core.intake", message_id="m1", sender="000.00.00.G22")
    log.info("packet.accepted", document_id="d1", recipient="000.00.01.H01")
    log.debug("hidden at info level")
    [line] = lines(stream)
    assert line["event"] == "packet.accepted"
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")
    assert line["message_id"] == "m1" and line["document_id"] == "d1"
    assert line["sender"] == "000.00.00.G22" and line["recipient"] == "000.00.01.H01"


def test_secrets_are_never_written(stream: io.StringIO) -> None:
    log = get_logger()
    log.info(
        "connect",
        password="hunter2",
        api_key="k-123",
        Authorization="Bearer tok-456",
        url="amqp://edoc:s3cr3t@127.0.0.1:5672/",
        system={"id": "qlvb", "secret": "shh-789", "nested": {"token": "tok-000"}},
    )
    raw = stream.getvalue()
    for secret in ("hunter2", "k-123", "tok-456", "s3cr3t", "shh-789", "tok-000"):
        assert secret not in raw
    [line] = lines(stream)
    assert line["url"] == "amqp://edoc:***@127.0.0.1:5672/"
    assert line["system"]["id"] == "qlvb" and line["system"]["secret"] == "[REDACTED]"
    assert "password" not in line


def test_standard_library_loggers_are_json_and_redacted(stream: io.StringIO) -> None:
    logging.getLogger("aiohttp.access").info("GET %s", "amqp://u:pw-1@host/")
    [line] = lines(stream)
    assert line["logger"] == "aiohttp.access"
    assert "pw-1" not in stream.getvalue()


def test_log_stage_writes_one_line_per_stage_and_observes_the_histogram(
    stream: io.StringIO,
) -> None:
    log = get_logger(message_id="m9")
    with log_stage(log, "parse") as extra:
        extra["document_id"] = "doc-1"
    with pytest.raises(ValueError), log_stage(log, "signature", sender="A"):
        raise ValueError("bad signature")
    parse, signature = lines(stream)
    assert parse["event"] == "intake.stage" and parse["stage"] == "parse"
    assert parse["document_id"] == "doc-1" and parse["outcome"] == "ok"
    assert isinstance(parse["duration_ms"], float)
    assert signature["level"] == "warning" and signature["outcome"] == "ValueError"
    body = metrics.render()[0].decode()
    assert 'edoc_gateway_intake_stage_seconds_count{stage="signature"}' in body


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError):
        configure_logging("loud")
