"""Revoking single bearer tokens before they expire (``DELETE /v1/tokens/{id}``, the CLI
``edoc-gateway systems revoke-token``).

A token ``edt1.<system>.<expiry>.<id>.<mac>`` is named by its ``id``; a revocation is a row of
``revoked_tokens`` (system, id, the latest moment the token could still be valid) and bumps
the systems' version, so every process's registry (``gateway.credentials.live``) reloads it
within a poll interval and refuses the token (``AUTH_FAILED``). Rows whose token would have
expired anyway are no longer loaded. Each revocation is one ``token.revoke`` audit record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit import chain as audit
from gateway.credentials.registry import SystemInvalid, SystemUnknown, utcnow
from gateway.credentials.tables import REVOKED as _R
from gateway.credentials.tables import SYSTEMS as _T
from gateway.credentials.tables import RevokedTokenRow, bump_version
from gateway.store.database import translate_errors

TOKEN_PREFIX = "edt1"


@dataclass(frozen=True)
class TokenName:
    """Which token: the system it was issued to, its id, and its expiry when known."""

    system_id: str
    token_id: str
    expires_at: datetime | None = None


def parse_token(token: str) -> TokenName | None:
    """Name the parts of a bearer token ``edt1.<system>.<expiry>.<id>.<mac>`` (system ids may
    contain dots); ``None`` when it does not have that form. The MAC is not checked."""
    body, _, mac = token.rpartition(".")
    parts = body.split(".")
    if len(parts) < 4 or parts[0] != TOKEN_PREFIX or not mac or not parts[-1]:
        return None
    if not parts[-2].isascii() or not parts[-2].isdigit():
        return None
    expiry = datetime.fromtimestamp(int(parts[-2]), UTC)
    return TokenName(".".join(parts[1:-2]), parts[-1], expiry)


async def revoke_token(
    engine: AsyncEngine,
    name: TokenName,
    *,
    actor: str,
    token_ttl_s: int,
    reason: str | None = None,
) -> bool:
    """Revoke the token ``name``; return ``False`` when it was already revoked.

    Without a known expiry the revocation is kept for ``token_ttl_s`` (no token issued
    before now lives longer)."""
    if not name.token_id or len(name.token_id) > 64 or not name.token_id.isascii():
        raise SystemInvalid("a token id is the fourth part of the token (16 hex digits)")
    now = utcnow()
    expires = name.expires_at or now + timedelta(seconds=token_ttl_s)
    with translate_errors():
        async with engine.begin() as conn:
            if (
                await conn.execute(select(_T.c.id).where(_T.c.id == name.system_id))
            ).first() is None:
                raise SystemUnknown(name.system_id)
            key = (_R.c.system_id == name.system_id) & (_R.c.token_id == name.token_id)
            if (await conn.execute(select(_R.c.token_id).where(key))).first() is not None:
                return False
            await conn.execute(
                insert(RevokedTokenRow).values(
                    system_id=name.system_id,
                    token_id=name.token_id,
                    expires_at=expires,
                    revoked_at=now,
                    actor=actor[:200],
                    reason=reason,
                )
            )
            await bump_version(conn, now)
            await audit.append(
                conn,
                event="token.revoke",
                actor=actor,
                detail={"system": name.system_id, "token_id": name.token_id, "reason": reason},
            )
    return True
