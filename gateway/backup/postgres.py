"""PostgreSQL side of backup and restore: ``pg_dump`` in an exported snapshot, ``pg_restore``.

The backup opens one ``REPEATABLE READ`` transaction, exports its snapshot and runs
``pg_dump --snapshot`` inside it, then reads the table counts, the audit head and the blob
keys in that same transaction (and, for blobs kept in the database, their SHA-256 computed
by the server): the manifest describes exactly what the dump holds, while the node keeps
writing. The password travels in ``PGPASSWORD``, never on a command line.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from gateway.backup.blobs import referenced_query
from gateway.backup.errors import BackupFailed


@dataclass(frozen=True)
class Snapshot:
    """What a snapshot holds: rows per table, the audit head and the referenced blobs."""

    tables: dict[str, int]
    audit_head: tuple[int, str] | None
    blobs: dict[str, int]
    in_flight: int
    # Referenced blobs whose bytes are rows of the ``blobs`` table (the database blob store,
    # so the dump carries them): key -> whether those bytes hash to the key.
    in_store: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class PgTarget:
    """libpq connection parameters of one database, the password kept apart."""

    host: str
    port: int
    user: str
    database: str
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> PgTarget:
        """Parse a ``postgresql://`` store URL (any SQLAlchemy driver suffix)."""
        parsed = make_url(url)
        return cls(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            database=parsed.database or "postgres",
            password=parsed.password,
        )

    def args(self) -> list[str]:
        """Connection options for pg_dump / pg_restore."""
        return ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", self.database]

    def env(self) -> dict[str, str]:
        """Environment of a client tool: the password, no prompt."""
        env = {**os.environ}
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    async def connect(self) -> asyncpg.Connection:
        """Open an asyncpg connection to this database."""
        return await asyncpg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            database=self.database,
            password=self.password,
        )


def client_binary(name: str) -> str:
    """Return the newest ``pg_dump``/``pg_restore`` (Debian's versioned directories first)."""
    versions = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    found = versions[-1] if versions else shutil.which(name)
    if found is None:
        raise BackupFailed(f"{name} not found: install the PostgreSQL client")
    return found


async def _run(cmd: list[str], env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *cmd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise BackupFailed(f"{Path(cmd[0]).name} failed: {err.decode(errors='replace')[-800:]}")


async def _snapshot_facts(conn: asyncpg.Connection) -> Snapshot:
    names = [
        r["tablename"]
        for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        )
    ]
    tables = {n: int(await conn.fetchval(f'SELECT count(*) FROM "{n}"')) for n in names}
    head = None
    if "audit_head" in tables:
        row = await conn.fetchrow("SELECT seq, hash FROM audit_head ORDER BY id LIMIT 1")
        head = (int(row["seq"]), str(row["hash"])) if row is not None else None
    blobs: dict[str, int] = {}
    in_flight = 0
    if "messages" in tables:
        for r in await conn.fetch(referenced_query(tables)):
            blobs[str(r["blob_key"])] = int(r["size"])
    if "deliveries" in tables:
        in_flight = int(
            await conn.fetchval(
                "SELECT count(*) FROM deliveries "
                "WHERE state IN ('pending', 'published', 'retrying')"
            )
        )
    in_store: dict[str, bool] = {}
    if "blobs" in tables and "messages" in tables:
        # Hashed by the server, in the snapshot: no blob travels to be checked.
        query = (
            "SELECT key, encode(sha256(data), 'hex') = key AS ok FROM blobs "
            "WHERE key IN (SELECT blob_key FROM messages)"
        )
        in_store = {str(r["key"]): bool(r["ok"]) for r in await conn.fetch(query)}
    return Snapshot(tables, head, blobs, in_flight, in_store)


async def dump(url: str, out: Path) -> Snapshot:
    """Write a custom-format dump of the database to ``out``; return what it holds."""
    target = PgTarget.from_url(url)
    try:
        conn = await target.connect()
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackupFailed(f"cannot reach the database: {exc}") from exc
    try:
        tx = conn.transaction(isolation="repeatable_read", readonly=True)
        await tx.start()
        snapshot_id = await conn.fetchval("SELECT pg_export_snapshot()")
        cmd = [client_binary("pg_dump"), "--format=custom", "--no-owner", "--no-privileges"]
        await _run(
            [*cmd, f"--snapshot={snapshot_id}", "--file", str(out), *target.args()], target.env()
        )
        facts = await _snapshot_facts(conn)
        await tx.rollback()
        return facts
    finally:
        await conn.close()


async def holds_data(url: str) -> bool:
    """Whether the database already has messages or audit records."""
    target = PgTarget.from_url(url)
    conn = await target.connect()
    try:
        for table in ("messages", "audit_log"):
            exists = await conn.fetchval("SELECT to_regclass($1)", table)
            if exists is not None and await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
                return True
        return False
    finally:
        await conn.close()


async def restore(url: str, dump_file: Path) -> None:
    """Load ``dump_file`` into the database in one transaction, dropping first the objects
    of the dump that exist (a schema created by a gateway start, or a store being replaced
    with ``--force``: the caller has checked which)."""
    target = PgTarget.from_url(url)
    cmd = [
        client_binary("pg_restore"),
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "--clean",
        "--if-exists",
    ]
    await _run([*cmd, *target.args(), str(dump_file)], target.env())
