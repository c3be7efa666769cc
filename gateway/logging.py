"""JSON log lines through structlog, with secrets removed before anything is written.

Each line is one JSON object with ``timestamp`` (UTC ISO 8601), ``level``, ``event`` and the
bound context: ``message_id``, ``document_id``, ``sender``, ``recipient``, ``stage``,
``duration_ms``. The intake logs one line per stage of a packet with :func:`log_stage`.
Standard-library loggers (aiohttp, aio-pika, SQLAlchemy) are rendered the same way.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import IO, Any

import structlog

from gateway.ops.metrics import INTAKE_STAGE_SECONDS

REDACTED = "[REDACTED]"
_SECRET_KEY = re.compile(
    r"(secret|passw|pwd|token|authori[sz]ation|api[_-]?key|private|cookie|credential|"
    r"hmac|signing_key)",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):[^@/\s]+@")
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "critical": 50}


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 5:
        return value
    if isinstance(value, str):
        return _URL_USERINFO.sub(r"\g<scheme>\g<user>:***@", value)
    if isinstance(value, dict):
        return {
            k: REDACTED if _is_secret_key(k) else _scrub(v, depth + 1) for k, v in value.items()
        }
    if type(value) in (list, tuple):
        return type(value)(_scrub(v, depth + 1) for v in value)
    return value


def _is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: drop secret-looking keys and mask passwords inside URLs.

    Keys whose name looks like a secret (``secret``, ``password``, ``token``,
    ``authorization``, ``api_key``, ``private``, ``cookie``, ``credential``, ...) are removed
    at the top level and replaced by ``[REDACTED]`` inside nested mappings; ``user:pass@`` in
    any string value becomes ``user:***@``.
    """
    for key in [k for k in event_dict if _is_secret_key(k)]:
        del event_dict[key]
    for key, value in list(event_dict.items()):
        event_dict[key] = _scrub(value)
    return event_dict


def _processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        redact_secrets,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]


def configure_logging(level: str = "info", *, stream: IO[str] | None = None) -> None:
    """Configure structlog and the standard ``logging`` module to write JSON lines.

    ``level`` is a name (``debug``, ``info``, ``warning``, ``error``); ``stream`` defaults to
    standard error. Safe to call again (tests, the CLI): the previous handlers are replaced.
    """
    numeric = _LEVELS.get(level.lower())
    if numeric is None:
        raise ValueError(f"unknown log level: {level}")
    out = stream if stream is not None else sys.stderr
    renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    structlog.configure(
        processors=[*_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_processors()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_edoc_gateway", False):
            root.removeHandler(old)
    handler._edoc_gateway = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)


def get_logger(name: str | None = None, **context: Any) -> Any:
    """Return a structlog logger bound to ``context`` (and ``logger`` = ``name`` if given)."""
    log = structlog.get_logger()
    if name is not None:
        context = {"logger": name, **context}
    return log.bind(**context) if context else log


@contextmanager
def log_stage(log: Any, stage: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Time one intake stage: one log line ``intake.stage`` and one histogram observation.

    Yields a dict the caller may fill with extra fields for the line (``document_id`` once
    parsed, ...). On an exception the line is logged at warning level with ``outcome`` set to
    the error's ``code`` (or class name) and the exception propagates.
    """
    extra: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        yield extra
    except Exception as exc:
        elapsed = time.perf_counter() - started
        INTAKE_STAGE_SECONDS.labels(stage=stage).observe(elapsed)
        outcome = getattr(exc, "code", None) or type(exc).__name__
        log.warning(
            "intake.stage",
            stage=stage,
            duration_ms=round(elapsed * 1000, 3),
            outcome=outcome,
            **fields,
            **extra,
        )
        raise
    elapsed = time.perf_counter() - started
    INTAKE_STAGE_SECONDS.labels(stage=stage).observe(elapsed)
    log.info(
        "intake.stage",
        stage=stage,
        duration_ms=round(elapsed * 1000, 3),
        outcome="ok",
        **fields,
        **extra,
    )
