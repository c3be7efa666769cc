"""Which senders an agency receives from: its ``accepts_from`` prefixes and their table.

The policy (DESIGN step 5, "every To accepts from this sender"): an agency with no
``accepts_from`` entry receives from every sender; one with entries receives only from
senders whose identifier code (normal form) starts with one of them. A prefix may be a whole
code (``000.00.00.G22``: that agency only) or a part of the code tree (``000.00.``: every
agency under it). The decision is taken by ``gateway.core.access``; this module stores the
prefixes (table ``agency_accepts`` in ``gateway.directory.tables``, one row per agency and
prefix) and puts them on the loaded :class:`~gateway.directory.resolver.Agency` records.
They are set like any other field: a directory import (CSV column or JSON list
``accepts_from``), ``edoc-gateway directory accepts-from`` or ``PUT /admin/v1/agencies/{code}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.directory.resolver import Agency
from gateway.directory.tables import ACCEPTS, CHUNK

_T = ACCEPTS


class _Change(Protocol):
    before: Agency | None
    after: Agency


async def attach(conn: AsyncConnection, agencies: list[Agency]) -> list[Agency]:
    """Return ``agencies`` with their ``accepts_from`` prefixes read from the store.

    Few agencies restrict their senders: only those records are replaced.
    """
    if not agencies:
        return agencies
    query = select(_T.c.code, _T.c.prefix).order_by(_T.c.code, _T.c.prefix)
    found: dict[str, list[str]] = {}
    rows: list[Any] = []
    if len(agencies) > CHUNK:  # the whole catalogue (or most of it): one scan
        rows = list((await conn.execute(query)).all())
    else:
        codes = [a.code for a in agencies]
        rows = list((await conn.execute(query.where(_T.c.code.in_(codes)))).all())
    for code, prefix in rows:
        found.setdefault(code, []).append(prefix)
    if not found:
        return agencies
    return [
        dataclasses.replace(a, accepts_from=tuple(found[a.code])) if a.code in found else a
        for a in agencies
    ]


async def rewrite(conn: AsyncConnection, changes: Sequence[_Change]) -> None:
    """Rewrite the prefix rows of the agencies whose ``accepts_from`` changed."""
    changed = [
        c for c in changes if (c.before.accepts_from if c.before else ()) != c.after.accepts_from
    ]
    for change in changed:
        await conn.execute(delete(_T).where(_T.c.code == change.after.code))
        prefixes = list(dict.fromkeys(change.after.accepts_from))
        if prefixes:
            await conn.execute(
                insert(_T), [{"code": change.after.code, "prefix": p} for p in prefixes]
            )
