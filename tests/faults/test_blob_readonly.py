"""The blob directory becomes read-only under a running gateway, then writable again.

As root (CI, this machine) the blob directory is a small tmpfs remounted read-only, so even
root gets EROFS; otherwise write permission is removed. While it is read-only every
submission is refused with ``STORE_ERROR`` (503, both messages) and an audit record, and no
message row is written; the documents accepted before are still delivered and readable.
Once writable again the same packets are accepted and the accounting holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.cluster import (
    Answer,
    GatewayProcess,
    Ledger,
    NodeConfig,
    account,
    readyz_status,
    report,
    rest_call,
    stored_count,
)
from tests.world import H41, Pki, document

pytestmark = pytest.mark.integration

BEFORE, DURING = 5, 5


class Switch:
    """Makes one directory read-only and writable again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mounted = False

    def setup(self) -> None:
        """Create the directory (a tmpfs mount when running as root)."""
        self.path.mkdir(parents=True)
        if os.geteuid() == 0:
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(self.path)], check=True
            )
            self.mounted = True

    def read_only(self, on: bool) -> None:
        """Switch the directory (and everything under it) read-only or back."""
        if self.mounted:
            mode = "ro" if on else "rw"
            subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], check=True)
            return
        for root, dirs, _files in os.walk(self.path):
            for name in [root, *(os.path.join(root, d) for d in dirs)]:
                os.chmod(name, 0o555 if on else 0o755)

    def teardown(self) -> None:
        """Undo the mount (or the permissions)."""
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False)
        else:
            with contextlib.suppress(OSError):
                self.read_only(False)


@pytest.fixture
def blob_switch(tmp_path: Path) -> Iterator[Switch]:
    """A blob directory that the test can make read-only."""
    switch = Switch(tmp_path / "blobs")
    switch.setup()
    try:
        yield switch
    finally:
        switch.teardown()


async def test_read_only_blob_directory_refuses_cleanly_then_recovers(
    tmp_path, amqp_url: str, pg_url: str, pki: Pki, blob_switch: Switch, gateways: Callable, http
) -> None:
    # Blobs in the directory (a PostgreSQL node keeps them in the database by default).
    store = {"url": pg_url, "blob_dir": str(blob_switch.path), "blob_url": "file"}
    config = NodeConfig(pg_url, amqp_url, blob_switch.path, pki, extra={"STORE": store})
    gateway: GatewayProcess = gateways(config)
    await asyncio.to_thread(gateway.start)
    ledger = Ledger()

    async def submit(number: str) -> Answer:
        answer = await rest_call(
            http, gateway.url, "SYS-G22", "POST", "/v1/messages", document(number)
        )
        ledger.record(answer, number)
        return answer

    for n in range(BEFORE):
        assert (await submit(f"7{n:03d}")).status == 202

    blob_switch.read_only(True)
    try:
        refusals = [await submit(f"8{n:03d}") for n in range(DURING)]
        ready_during = readyz_status(gateway.url)
        # What was accepted before stays readable by its recipient.
        first = sorted(ledger.accepted)[0]
        fetched = await rest_call(http, gateway.url, "SYS-H41", "GET", f"/v1/messages/{first}")
    finally:
        blob_switch.read_only(False)

    for answer in refusals:
        assert answer.status == 503, answer
        assert answer.error_code == "STORE_ERROR"
        error = answer.json["error"]
        assert error["message_vi"] and "blob" in error["message_en"]
    assert fetched.status == 200 and fetched.body.startswith(b"<?xml")
    messages = await stored_count(pg_url, "SELECT COUNT(*) FROM messages")
    assert messages == BEFORE, "nothing may be half-written while blobs cannot be stored"
    audited = await stored_count(
        pg_url,
        "SELECT COUNT(*) FROM audit_log WHERE event = 'rejected' AND outcome = 'STORE_ERROR'",
    )
    assert audited == DURING

    # Writable again: the same packets go through, and nothing is lost.
    retry = Ledger()
    for n in range(DURING):
        answer = await rest_call(
            http, gateway.url, "SYS-G22", "POST", "/v1/messages", document(f"8{n:03d}", to=(H41,))
        )
        assert answer.status == 202, answer
        retry.record(answer)
    ledger.accepted |= retry.accepted
    result = await account(pg_url, ledger)
    report(result.line("blob-dir-read-only") + f" readyz_while_read_only={ready_during}")
    assert readyz_status(gateway.url) == 200
    assert result.accepted == BEFORE + DURING
    result.assert_clean()
