"""Malware scanning with a real ClamAV daemon (clamd) over its socket.

The client speaks clamd's documented protocol (``man clamd``): one connection per command,
``z``-prefixed NUL-terminated commands; ``zINSTREAM`` streams the bytes as chunks, each
preceded by its length as a 4-byte big-endian integer, ended by a zero-length chunk, and
clamd answers ``stream: OK``, ``stream: <signature> FOUND`` or ``... ERROR``. It is written
here (some 100 lines) because the maintained async client on PyPI (aioclamd) speaks TCP
only, and production installs listen on a unix socket (``unix:///run/clamav/clamd.ctl``).

``[scan] clamd = "tcp://127.0.0.1:3310"`` or ``"unix:///path/clamd.sock"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass
from urllib.parse import urlsplit

_CHUNK = 1 << 16


class ScannerUnreachable(Exception):
    """clamd could not be reached, timed out or answered with an error."""


@dataclass(frozen=True)
class ScanResult:
    """One scanned file: its name and the signature clamd found (``None``: clean)."""

    name: str
    signature: str | None

    @property
    def infected(self) -> bool:
        """Whether clamd found a signature."""
        return self.signature is not None


@dataclass(frozen=True)
class ClamdAddress:
    """Where clamd listens: a TCP host and port, or a unix socket path."""

    host: str | None = None
    port: int | None = None
    path: str | None = None

    @classmethod
    def parse(cls, url: str) -> ClamdAddress:
        """Read ``tcp://host:port`` or ``unix:///path``; ``ValueError`` otherwise."""
        parts = urlsplit(url)
        if parts.scheme == "tcp" and parts.hostname and parts.port:
            return cls(host=parts.hostname, port=parts.port)
        if parts.scheme == "unix" and parts.path:
            return cls(path=parts.path)
        raise ValueError(f"clamd address must be tcp://host:port or unix:///path, not {url!r}")

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.path else f"tcp://{self.host}:{self.port}"


class ClamdScanner:
    """Scans bytes with clamd's INSTREAM; one connection per scan, bounded by ``timeout_s``."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.address = ClamdAddress.parse(url)
        self.timeout_s = timeout_s

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        a = self.address
        if a.path is not None:
            return await asyncio.open_unix_connection(a.path)
        return await asyncio.open_connection(a.host, a.port)

    async def _command(self, command: bytes, body: bytes | None) -> str:
        reader, writer = await self._open()
        try:
            writer.write(b"z" + command + b"\0")
            if body is not None:
                view = memoryview(body)
                for start in range(0, len(view), _CHUNK):
                    piece = view[start : start + _CHUNK]
                    writer.write(struct.pack("!L", len(piece)))
                    writer.write(piece)
                    await writer.drain()
                writer.write(struct.pack("!L", 0))
            await writer.drain()
            answer = await reader.readuntil(b"\0")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return answer.rstrip(b"\0").decode("utf-8", "replace").strip()

    async def _run(self, command: bytes, body: bytes | None = None) -> str:
        try:
            return await asyncio.wait_for(self._command(command, body), self.timeout_s)
        except TimeoutError as exc:
            raise ScannerUnreachable(f"clamd at {self.address} timed out") from exc
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise ScannerUnreachable(f"clamd at {self.address}: {exc}") from exc

    async def ping(self) -> str:
        """Return clamd's version line when it answers PING; raise ``ScannerUnreachable``."""
        answer = await self._run(b"PING")
        if answer != "PONG":
            raise ScannerUnreachable(f"clamd at {self.address} answered {answer!r}")
        return await self._run(b"VERSION")

    async def scan(self, name: str, data: bytes) -> ScanResult:
        """Stream ``data`` to clamd; return what it found (clamd unpacks archives itself)."""
        answer = await self._run(b"INSTREAM", data)
        _, _, verdict = answer.partition(": ")
        if verdict == "OK":
            return ScanResult(name, None)
        if verdict.endswith(" FOUND"):
            return ScanResult(name, verdict[: -len(" FOUND")].strip())
        raise ScannerUnreachable(f"clamd could not scan {name!r}: {answer}")
