"""One clean failure for every CLI command: a bilingual message and a non-zero exit.

:func:`guard_commands` wraps the callback of every command registered on the ``edoc-gateway``
Typer application (sub-groups included) once, so that an empty, uninitialised or unreachable
store, a missing or invalid configuration file, or any refusal of the core ends the command
with ``CODE: Vietnamese / English`` on standard error and exit status 1 (2 for configuration),
never a Python traceback. Typer's own exits and usage errors pass through untouched.
"""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import typer
from pydantic import ValidationError

from edxml.errors import BilingualError

_GUARDED = "__edoc_guarded__"

# Driver messages meaning "the schema is not there" (SQLite, PostgreSQL).
_NO_SCHEMA = ("no such table", "undefinedtable", 'relation "')
# Messages meaning "the database cannot be reached or opened".
_UNREACHABLE = (
    "unable to open database file",
    "connection refused",
    "connect call failed",
    "could not connect",
    "name or service not known",
    "temporary failure in name resolution",
    "timeout",
    "password authentication failed",
    "is not a database",
    "no route to host",
    "cannot reach the database",
    "invalidcatalogname",
)
_NETWORK_ERRORS = (ConnectionError, TimeoutError, socket.gaierror)


@dataclass(frozen=True)
class Failure:
    """What a command prints when it fails: stable code, both languages, exit status."""

    code: str
    message_vi: str
    message_en: str
    detail: str = ""
    exit_code: int = 1

    def render(self) -> str:
        """Return the one-line message written to standard error."""
        text = f"{self.code}: {self.message_vi} / {self.message_en}"
        return f"{text} ({self.detail})" if self.detail else text


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    # SQLAlchemy appends the statement and a documentation link: keep the driver's words.
    for marker in (" [SQL:", " (Background on this error"):
        text = text.split(marker, 1)[0]
    return text[:300]


def _store_failure(exc: BaseException) -> Failure | None:
    text = " ".join(_short(e).lower() + " " + type(e).__name__.lower() for e in _chain(exc))
    if any(marker in text for marker in _NO_SCHEMA):
        return Failure(
            "STORE_NOT_INITIALISED",
            "Kho dữ liệu chưa được khởi tạo (chưa có bảng); hãy chạy `edoc-gateway serve` "
            "một lần hoặc kiểm tra store.url",
            "the store is not initialised (no tables); start `edoc-gateway serve` once "
            "or check store.url",
            _short(exc),
        )
    if any(marker in text for marker in _UNREACHABLE) or any(
        isinstance(e, _NETWORK_ERRORS) for e in _chain(exc)
    ):
        return Failure(
            "STORE_UNREACHABLE",
            "Không kết nối được kho dữ liệu",
            "cannot reach or open the store",
            _short(exc),
        )
    return None


def classify(exc: BaseException) -> Failure:
    """Map an exception escaping a command to the failure it prints."""
    if isinstance(exc, ValidationError):
        return Failure(
            "CONFIG_INVALID",
            "Cấu hình không hợp lệ",
            "invalid configuration",
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
            exit_code=2,
        )
    if isinstance(exc, FileNotFoundError) and "configuration file" in str(exc):
        return Failure(
            "CONFIG_NOT_FOUND",
            "Không tìm thấy tệp cấu hình",
            "configuration file not found",
            _short(exc),
            exit_code=2,
        )
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError) and exc.filename:
        return Failure(
            "FILE_UNREADABLE",
            "Không đọc hoặc ghi được tệp",
            "cannot read or write a file",
            f"{exc.filename}: {exc.strerror}",
        )
    if isinstance(exc, BilingualError):
        found = _store_failure(exc) if exc.code in ("STORE_ERROR", "UNAVAILABLE") else None
        return found or Failure(exc.code, exc.text_vi, exc.text_en)
    found = _store_failure(exc)
    if found is not None:
        return found
    return Failure(
        "COMMAND_FAILED",
        "Lệnh không thực hiện được",
        "the command failed",
        f"{type(exc).__name__}: {_short(exc)}",
    )


def _quiet_driver_threads() -> None:
    """After a failed connection, aiosqlite's worker thread may report a late result to the
    already closed event loop ("Event loop is closed"): nothing is lost, but the thread's
    traceback would follow the clean message. Only that error is silenced."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.exc_value, RuntimeError) and "Event loop is closed" in str(
            args.exc_value
        ):
            return
        previous(args)

    threading.excepthook = hook


def fail(exc: BaseException) -> typer.Exit:
    """Print the failure ``exc`` maps to on standard error; return the exit to raise."""
    _quiet_driver_threads()
    failure = classify(exc)
    typer.echo(failure.render(), err=True)
    return typer.Exit(failure.exit_code)


def guarded(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap one command callback: known failures become a message and a non-zero exit."""
    if getattr(callback, _GUARDED, False):
        return callback

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # the one place a command turns into a message
            raise fail(exc) from None

    setattr(run, _GUARDED, True)
    return run


def guard_commands(app: typer.Typer) -> typer.Typer:
    """Guard every command of ``app`` and of its sub-groups (idempotent); return ``app``."""
    for command in app.registered_commands:
        if command.callback is not None:
            command.callback = guarded(command.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            guard_commands(group.typer_instance)
    return app
