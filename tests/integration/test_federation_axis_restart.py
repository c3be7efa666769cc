"""Three gateway processes federated over VXP (``federation_node.py``): the axis H killed
(SIGKILL) and restarted, while A sends and while it holds documents B has not pulled,
loses nothing and doubles nothing.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.faults.cluster import stored_count
from tests.integration.federation_node import NODE_A, NODE_H, Federation
from tests.integration.federation_steps import arrived_at_b, hop_nodes, send_at_a, until

pytestmark = pytest.mark.integration


async def test_the_axis_killed_and_restarted_loses_nothing(
    federation: Federation, http: aiohttp.ClientSession
) -> None:
    fed = federation
    # 1. H is gone (SIGKILL) while A sends: A keeps the deliveries and retries.
    fed.h.process.kill()
    while_down = ["911", "912"]
    for number in while_down:
        await send_at_a(fed, http, number)
    await asyncio.sleep(3)
    fed.h.process.start()
    await arrived_at_b(fed, http, while_down, 180.0)

    # 2. H is killed holding documents it accepted and B has not pulled (B is stopped).
    fed.b.process.stop()
    held = ["913", "914", "915"]
    ids = [(await send_at_a(fed, http, number))[0] for number in held]

    async def forwarded() -> bool:
        for message_id in ids:
            trace = await fed.a.trace(http, "SYS-G22", message_id)
            if {d["state"] for d in trace["deliveries"]} != {"delivered"}:
                return False
        return True

    await until(forwarded, "A's deliveries accepted by H")
    fed.h.process.kill()
    fed.h.process.start()
    fed.b.process.start()
    at_b = await arrived_at_b(fed, http, while_down + held, 180.0)
    for message_id in at_b.values():
        assert hop_nodes(await fed.b.trace(http, "SYS-H41", message_id)) == [NODE_A, NODE_H]
    doubled = await stored_count(
        fed.b.store_url(),
        "SELECT COUNT(*) FROM (SELECT document_id FROM messages WHERE kind = 'document' "
        "GROUP BY sender, document_id HAVING COUNT(*) > 1) AS d",
    )
    assert doubled == 0
    hops_at_h = await stored_count(fed.h.store_url(), "SELECT COUNT(*) FROM message_hops")
    assert hops_at_h == len(while_down + held), "one hop (A) per document, kept across SIGKILL"
