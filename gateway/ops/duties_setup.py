"""The scheduler of a gateway process as one cleanup context (see :mod:`gateway.ops.duties`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from gateway import appkeys
from gateway.config import Settings
from gateway.directory.sync import DirectorySource
from gateway.ops.duties import Scheduler
from gateway.ops.duties_builtin import build_duties, directory_source

# Builds the upstream's directory source and its closer (the composition root supplies it).
UpstreamSource = Callable[[], tuple[DirectorySource, Callable[[], Awaitable[None]]]]


def duties_context(
    settings: Settings, *, with_workers: bool, upstream_source: UpstreamSource | None = None
) -> Callable[[Any], AsyncIterator[None]]:
    """Return the cleanup context that runs this process's duties (``app[appkeys.DUTIES]``).

    The outbox sweep runs only in a process with delivery workers (it needs the broker);
    with ``duties.enabled = false`` the sweep is the only duty this process takes part in.
    The directory source is ``directory.url`` (``"upstream"``: the upstream axis's list).
    """

    async def ctx(app: Any) -> AsyncIterator[None]:
        engine = app[appkeys.ENGINE]
        closer: Callable[[], Awaitable[None]] | None = None
        source = directory_source(settings)
        wants_upstream = settings.directory.url == "upstream"
        if wants_upstream and upstream_source is not None and settings.duties.enabled:
            source, closer = upstream_source()
        registry = app.get(appkeys.CALLING_SYSTEMS)
        duties = build_duties(
            settings,
            engine=engine,
            systems=app.get(appkeys.SYSTEMS_STORE),
            broker=app.get(appkeys.BROKER) if with_workers else None,
            source=source,
            flush_activity=registry.flush_activity if registry is not None else None,
        )
        if not settings.duties.enabled:
            duties = [d for d in duties if d.name == "outbox-sweep"]
        scheduler = Scheduler(engine, duties)
        app[appkeys.DUTIES] = scheduler
        await scheduler.start()
        yield
        await scheduler.close()
        if closer is not None:
            await closer()

    return ctx
