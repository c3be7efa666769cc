"""Shards a node left behind when it ran with more of them than it is configured with now.

Lowering ``[amqp] delivery_shards`` leaves the higher shard queues on the broker, with the
tasks still in them and the tasks waiting in the retry queues that dead-letter back to
them (by their original routing key). The consumer finds them here (passive declarations
of shard K, K+1, … until one is missing) and drains them beside the configured shards; new
tasks and retries are routed to the configured shards only. An empty leftover queue can
be deleted by the operator once the longest retry step has passed (docs/operations.md).
"""

from __future__ import annotations

import structlog
from aio_pika import Channel
from aio_pika.abc import AbstractRobustConnection
from aiormq.exceptions import ChannelNotFoundEntity

from gateway.delivery.topology import LANES, MAX_SHARDS, Names

log = structlog.get_logger(__name__)


async def _exists(connection: AbstractRobustConnection, name: str) -> bool:
    # A passive declaration of a missing queue closes its channel: a throwaway one, not a
    # robust one (the robust connection would reopen it and keep it open).
    channel = await Channel(connection)
    try:
        await channel.declare_queue(name, passive=True)
    except ChannelNotFoundEntity:
        return False
    finally:
        if not channel.is_closed:
            await channel.close()
    return True


async def leftover_shards(
    connection: AbstractRobustConnection, names: Names
) -> dict[str, list[int]]:
    """Return, per lane, the shard numbers at or beyond ``names.shards`` whose queues exist."""
    found: dict[str, list[int]] = {}
    for lane in LANES:
        found[lane] = []
        for shard in range(names.shards, MAX_SHARDS):
            if not await _exists(connection, names.work_queue(lane, shard)):
                break
            found[lane].append(shard)
        if found[lane]:
            log.warning("broker.draining_leftover_shards", lane=lane, shards=found[lane])
    return found
