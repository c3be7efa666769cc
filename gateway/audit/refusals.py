"""One audit record for a refusal decided at a door (the core audits its own refusals)."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import chain as audit
from gateway.errors import GatewayError
from gateway.store.database import transaction

log = structlog.get_logger(__name__)


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
