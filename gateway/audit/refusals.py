"""One audit record for each refusal, written where the refusal is decided.

The core audits the packets it rejects itself (with the packet's hash and the error path)
and marks the error it raises with :func:`mark_audited`; a door that decides a refusal
(authentication, size, read timeout, envelope, a bad parameter) writes its record through
:func:`audit_refusal` with the door, the caller (or the system it claimed), the code and
the remote address, unless the error it answers is already marked. The mark travels on the
error object itself, so nothing has to guess from a response body whether a record exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import batch as audit_batch
from gateway.audit import chain as audit
from gateway.errors import GatewayError
from gateway.store.database import transaction

log = structlog.get_logger(__name__)

_MARK = "_edoc_audited"


def mark_audited(error: BaseException) -> None:
    """Record on ``error`` that its refusal already has its audit record (the core wrote it)."""
    setattr(error, _MARK, True)


def is_audited(error: BaseException) -> bool:
    """Return whether ``error``'s refusal already has its audit record."""
    return bool(getattr(error, _MARK, False))


@dataclass(frozen=True)
class Refusal:
    """One refusal decided at a door: who asked, from where, and the stable code answered.

    ``actor`` is set only for an authenticated caller; what an unauthenticated request
    claimed to be is kept as ``claimed`` (detail), never as the actor.
    """

    door: str
    code: str
    remote: str | None
    actor: str | None = None
    claimed: str | None = None
    method: str | None = None
    path: str | None = None
    status: int | None = None
    message_en: str | None = None
    reason: str | None = None  # why, for the record only (an answer may not say it)

    def event(self, extra: dict[str, Any] | None = None) -> audit.Event:
        """The ``rejected`` audit event of this refusal."""
        detail: dict[str, Any] = {
            "door": self.door,
            "via": self.door,
            "claimed_system": self.claimed,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "remote": self.remote,
            "message_en": self.message_en,
            "reason": self.reason,
        }
        detail = {k: v for k, v in detail.items() if v is not None}
        return audit.Event(
            "rejected", actor=self.actor, outcome=self.code, detail={**detail, **(extra or {})}
        )


async def audit_refusal(
    engine: AsyncEngine | None,
    refusal: Refusal,
    *,
    error: BaseException | None = None,
    extra: dict[str, Any] | None = None,
) -> bool:
    """Write the one ``rejected`` record of ``refusal`` (shared batch transaction); return
    whether a record was written. Skipped when ``error`` is already audited; a store failure
    is logged, never raised (the door still answers its caller)."""
    if error is not None and is_audited(error):
        return False
    if error is not None:
        mark_audited(error)
    if engine is None:
        log.warning("refusal.not_audited", door=refusal.door, code=refusal.code)
        return False
    try:
        await audit_batch.record(engine, refusal.event(extra))
    except GatewayError as exc:
        log.error("refusal.audit_failed", code=refusal.code, error=str(exc))
        return False
    return True


async def record_refusal(
    engine: AsyncEngine,
    *,
    outcome: str,
    actor: str | None = None,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Append one ``rejected`` record in its own transaction; return whether it was written.

    A store failure is logged and answered ``False``, never raised: the door still answers
    its caller (the refusal itself is not in doubt, only its record).
    """
    try:
        async with transaction(engine) as conn:
            await audit.append(conn, event="rejected", actor=actor, outcome=outcome, detail=detail)
    except GatewayError as exc:
        log.error("refusal.audit_failed", code=outcome, error=str(exc))
        return False
    return True
