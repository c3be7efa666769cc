"""The authorization matrix of ``docs/authorization.md``, checked cell by cell on a live gateway.

The table is read from the document itself. For every (operation, role) cell a fresh
document goes from G22 (``SYS-G22``) to H41 (``SYS-H41``) and is delivered; the operation is
then called over HTTP as the role (bound system, another agency's system ``SYS-H14``, admin
token, nobody) and the answer classified as allowed / hidden / refused.

The matrix, the node and the calling role are in ``authz_matrix``; each door's performers
in ``authz_rest``, ``authz_vxp`` and ``authz_hub``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import aiohttp
import pytest

from tests.faults.cluster import report
from tests.security.authz_hub import HUB_PERFORMERS
from tests.security.authz_matrix import CELLS, MATRIX, ROLES, Ctx, authz_node, delivered_document
from tests.security.authz_rest import REST_PERFORMERS
from tests.security.authz_vxp import VXP_PERFORMERS
from tests.services import RabbitMQ

pytestmark = pytest.mark.integration

PERFORMERS: dict[str, Callable[[Ctx], Awaitable[str]]] = {
    **REST_PERFORMERS,
    **VXP_PERFORMERS,
    **HUB_PERFORMERS,
}


@pytest.fixture(scope="module")
def node_url(rabbitmq: RabbitMQ, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with authz_node(rabbitmq, tmp_path_factory.mktemp("authz")) as url:
        yield url


def test_the_table_covers_every_operation_and_role() -> None:
    assert set(MATRIX) == set(PERFORMERS)
    for operation, row in MATRIX.items():
        assert row["agency"] in ("sender", "recipient", "none"), operation
        for role in ROLES:
            assert row[role] in ("allowed", "hidden", "refused"), (operation, role)
    assert len(CELLS) >= 100


@pytest.mark.parametrize(("operation", "role"), CELLS, ids=[f"{o}|{r}" for o, r in CELLS])
async def test_cell(node_url: str, operation: str, role: str) -> None:
    expected = MATRIX[operation][role]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        ctx = Ctx(node_url, http, role, MATRIX[operation]["agency"])
        if ctx.side != "none":
            ctx.message_id = await delivered_document(node_url, http)
        got = await PERFORMERS[operation](ctx)
    report(f"AUTHZ {operation} as {role}: {got}")
    assert got == expected, f"{operation} as {role}: expected {expected}, got {got}"
