"""One audit record for each refusal the VXP door decides itself.

Refusals of a packet by the core (edXML, signature, routing, sender binding) are audited by
the core where it decides them (``gateway.core.intake``); everything the door decides before or
beside the core (signature, network, freshness, replay, size, ``hash-file``, a missing
parameter, an unknown document) is recorded here, at the decision point, with door ``vxp``,
the system the request claimed, the operation and both codes; nothing else writes a second
record (the core marks the errors it audited, ``gateway.audit.refusals.is_audited``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit.refusals import record_refusal

log = structlog.get_logger("adapters.vxp.refusals")

DOOR = "vxp"


@dataclass(frozen=True)
class VxpRefusal:
    """What one refused VXP request was and why."""

    op: str
    code: str
    vxp_code: str
    message_en: str
    claimed_system: str | None
    authenticated: bool
    remote: str | None
    body: bytes | None = None

    def detail(self) -> dict[str, Any]:
        """The audit record's detail (the packet's hash and size when a body was read)."""
        detail: dict[str, Any] = {
            "door": DOOR,
            "via": DOOR,
            "op": self.op,
            "claimed_system": self.claimed_system,
            "authenticated": self.authenticated,
            "vxp_error_code": self.vxp_code,
            "message_en": self.message_en,
            "remote": self.remote,
        }
        if self.body is not None:
            detail["sha256"] = hashlib.sha256(self.body).hexdigest()
            detail["size"] = len(self.body)
        return detail


class RefusalSink(Protocol):
    """Where the door records its refusals."""

    async def record(self, refusal: VxpRefusal) -> None:
        """Write one audit record for ``refusal``; never raise."""
        ...


class AuditChainSink:
    """Writes refusals to the gateway's audit chain (``gateway.audit.chain``)."""

    def __init__(self, engine_of: Callable[[], AsyncEngine | None]) -> None:
        self._engine_of = engine_of

    async def record(self, refusal: VxpRefusal) -> None:
        """Append one ``rejected`` record; a store failure is logged, the answer still goes."""
        engine = self._engine_of()
        if engine is None:
            log.warning("vxp.refusal_not_audited", op=refusal.op, code=refusal.code)
            return
        await record_refusal(
            engine,
            outcome=refusal.code,
            actor=refusal.claimed_system if refusal.authenticated else None,
            detail=refusal.detail(),
        )
