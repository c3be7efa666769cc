"""Opening the calling-systems store from the settings: key, store, first-start seeding.

Used by the application (one cleanup context: seed from TOML ``[[systems]]`` on the store's
first start, start the live registry, close it at shutdown) and by the ``systems`` commands.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import appkeys
from gateway.config import Settings
from gateway.credentials.crypto import load_box
from gateway.credentials.store import SystemsStore


async def open_systems_store(settings: Settings, engine: AsyncEngine) -> SystemsStore:
    """Return the systems store of ``settings`` on ``engine`` (the key file is created on
    first use when no key is configured)."""
    creds = settings.credentials
    box = await asyncio.to_thread(load_box, creds.key_text(), creds.key_path(settings.store))
    return SystemsStore(engine, box, overlap_days=creds.overlap_days)


def systems_context(settings: Settings) -> Callable[[Any], AsyncIterator[None]]:
    """Return the cleanup context that seeds and starts ``app[appkeys.CALLING_SYSTEMS]``."""

    async def ctx(app: Any) -> AsyncIterator[None]:
        store = await open_systems_store(settings, app[appkeys.ENGINE])
        await store.seed(settings.systems)
        app[appkeys.SYSTEMS_STORE] = store
        registry = app[appkeys.CALLING_SYSTEMS]
        await registry.start(store)
        yield
        await registry.close()

    return ctx
