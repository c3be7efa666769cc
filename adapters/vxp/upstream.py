"""Wiring of one upstream axis link for the composition root (``gateway/app.py``).

- :func:`upstream_transport`: the ``peer`` delivery transport (``sendEdoc`` upstream);
- :func:`upstream_ctx`: a cleanup context running the :class:`VxpPoller` of the link.

The poller ingests as the caller ``upstream:<name>``, allowed to speak for every agency the
directory routes to this link (endpoint ``peer`` whose ``node`` is the link's name) plus
``extra_agencies``: the upstream relays documents from agencies that are not ours.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from adapters.vxp.client import PathOf, VxpClient, VxpPoller, VxpTransport
from gateway import appkeys
from gateway.credentials.auth import Caller


@dataclass(frozen=True)
class UpstreamLink:
    """One upstream axis: where it is, who we are there, how often to poll."""

    name: str
    url: str
    system_id: str
    secret: str
    poll_interval_s: float = 10.0
    policy: str = "legacy"
    extra_agencies: tuple[str, ...] = ()


def upstream_transport(
    link: UpstreamLink, *, node: str | None = None, path_of: PathOf | None = None
) -> VxpTransport:
    """Return the ``peer`` transport that forwards deliveries to ``link``; each forwarding
    request carries the message's path (``path_of``: the core's ``onward_hops``), else
    ``node`` (this node's code) as the only hop."""
    client = VxpClient(link.url, link.system_id, link.secret)
    return VxpTransport(client, node=node, path_of=path_of)


def upstream_caller(link: UpstreamLink, agencies: Iterable[object]) -> Caller:
    """Return the caller the link ingests as, given the directory's agencies."""
    routed = {
        str(getattr(a, "code", ""))
        for a in agencies
        if getattr(getattr(a, "endpoint", None), "kind", None) == "peer"
        and getattr(a.endpoint, "node", None) == link.name  # type: ignore[attr-defined]
    }
    agencies_allowed = frozenset(routed | set(link.extra_agencies))
    return Caller(f"upstream:{link.name}", agencies_allowed, link.policy)


def upstream_ctx(link: UpstreamLink) -> Callable[[web.Application], AsyncIterator[None]]:
    """Return a cleanup context polling ``link`` (append it after the core context)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        directory = app[appkeys.DIRECTORY]
        client = VxpClient(link.url, link.system_id, link.secret)
        caller = upstream_caller(link, directory if _iterable(directory) else ())
        poller = VxpPoller(client, app[appkeys.GATEWAY], caller, interval_s=link.poll_interval_s)
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        yield
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=30)
        await client.close()

    return ctx


def _iterable(value: object) -> bool:
    return hasattr(value, "__iter__")
