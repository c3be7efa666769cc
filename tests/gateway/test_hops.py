"""Hops (gateway/core/hops.py, gateway/store/hops.py): parsed, stored once beside the message on
SQLite and PostgreSQL alike, sent on with this node's own hop, shown by the trace."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gateway.cli import app
from gateway.core.hops import (
    MAX_HOPS,
    check_path,
    hops_text,
    onward,
    parse_hops,
    parse_hops_text,
    record_path,
    stored_path,
)
from gateway.core.operations import load_trace
from gateway.core.views import Hop
from gateway.errors import RequestInvalid, RoutingLoop, StoreError
from gateway.store import repository as repo
from gateway.store.database import create_engine, create_schema, transaction
from tests import store_rows

A = Hop("000.00.00.A00", "2026-01-05T01:00:00+00:00", "2026-01-05T01:00:01+00:00")
H = Hop("000.00.00.H00", "2026-01-05T01:00:02+00:00", "2026-01-05T01:00:03+00:00")


def test_the_header_reads_back_as_it_was_written() -> None:
    assert parse_hops_text(hops_text([A, H])) == (A, H)
    assert parse_hops_text(None) == () and parse_hops_text("") == ()
    assert parse_hops([{"node": "X"}]) == (Hop("X"),)


@pytest.mark.parametrize(
    "value",
    [
        "{not json",
        json.dumps({"node": "X"}),
        json.dumps(["X"]),
        json.dumps([{"received_at": "t"}]),
        json.dumps([{"node": "  "}]),
        json.dumps([{"node": 7}]),
        json.dumps([{"node": "X", "forwarded_at": "9" * 65}]),
    ],
)
def test_a_malformed_hop_list_is_refused_as_invalid(value: str) -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_hops_text(value)
    assert caught.value.code == "REQUEST_INVALID"


def test_a_path_longer_than_a_federation_is_a_routing_loop() -> None:
    with pytest.raises(RoutingLoop) as caught:
        parse_hops_text(json.dumps([{"node": f"N{i}"} for i in range(MAX_HOPS + 1)]))
    assert caught.value.code == "ROUTING_LOOP"
    longest = json.dumps([{"node": f"N{i}"} for i in range(MAX_HOPS)])
    assert len(parse_hops_text(longest)) == MAX_HOPS


def test_a_path_naming_this_node_is_a_routing_loop() -> None:
    check_path([A, H], "000.00.00.B00")  # passes: B is not on the path
    check_path([A, H], None)  # a node without a code cannot tell
    check_path([], "000.00.00.H00")
    for node in ("000.00.00.H00", "000.00.00.h00", "000.00.00.A00"):
        with pytest.raises(RoutingLoop):
            check_path([A, H], node)


def test_a_relaying_node_sends_the_path_then_its_own_hop() -> None:
    accepted = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    now = accepted + timedelta(seconds=3)
    stored = Hop(A.node, A.received_at, A.forwarded_at, "SYS-A", "vxp", "2026-01-05T01:00:02")
    sent = onward([stored], "000.00.00.H00", accepted, now)
    assert sent == (A, Hop("000.00.00.H00", accepted.isoformat(), now.isoformat()))
    assert sent[0].reported_by is None, "what this node recorded stays here"
    assert onward([stored], None, accepted) == (A,)


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(store_url)
    await create_schema(eng)
    yield eng
    await eng.dispose()


async def _stored_message(engine: AsyncEngine) -> str:
    now = datetime.now(UTC)
    msg = repo.NewMessage(
        kind="document",
        sender="000.00.00.G22",
        document_id=f"doc-{repo.new_id()}",
        content_sha256="c" * 64,
        blob_key="c" * 64,
        size=10,
        caller_system="upstream:hub",
        accepted_at=now,
        legal_receipt_at=now,
        signature_status="verified",
    )
    async with transaction(engine) as conn:
        await store_rows.insert_message(
            conn, msg, [repo.NewDelivery("000.00.00.H41", "000.00.00.H41")]
        )
    return msg.id


@pytest.mark.integration
async def test_the_path_is_stored_once_in_order_and_shown_by_the_trace(
    engine: AsyncEngine,
) -> None:
    message_id = await _stored_message(engine)
    at = datetime(2026, 1, 5, 1, 0, 5, tzinfo=UTC)
    assert await record_path(engine, message_id, [A, H], reported_by="upstream:hub", via="v") == 2
    # A resend of the relayed packet (or a report racing it) changes nothing.
    again = [Hop("000.00.00.Z99")]
    assert await record_path(engine, message_id, again, reported_by="x", via="v", at=at) == 0
    async with engine.connect() as conn:
        path = await stored_path(conn, message_id)
        message = await repo.get_message(conn, message_id)
        trace = await load_trace(conn, message, await repo.deliveries_for(conn, message_id))
    assert [h.wire() for h in path] == [A.wire(), H.wire()]
    assert {(h.reported_by, h.via) for h in path} == {("upstream:hub", "v")}
    assert path[0].recorded_at is not None and "+00:00" in path[0].recorded_at
    shown = trace.as_dict()["hops"]
    assert [h["node"] for h in shown] == [A.node, H.node]
    assert shown[1]["forwarded_at"] == H.forwarded_at


@pytest.mark.integration
async def test_a_message_without_hops_has_an_empty_path(engine: AsyncEngine) -> None:
    message_id = await _stored_message(engine)
    assert await record_path(engine, message_id, [], reported_by="x", via="v") == 0
    async with engine.connect() as conn:
        assert await stored_path(conn, message_id) == ()


@pytest.mark.integration
async def test_hops_of_an_unknown_message_are_refused_by_the_store(engine: AsyncEngine) -> None:
    with pytest.raises(StoreError):
        await record_path(engine, "f" * 32, [A], reported_by="x", via="v")


async def test_the_operator_cli_shows_the_hops(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_engine(url)
    try:
        await create_schema(engine)
        message_id = await _stored_message(engine)
        await record_path(
            engine, message_id, [A, H], reported_by="upstream:hub", via="vxp-upstream"
        )
    finally:
        await engine.dispose()
    runner = CliRunner()
    env = {"EDOC_STORE__URL": url}
    shown = await asyncio.to_thread(runner.invoke, app, ["messages", "trace", message_id], env=env)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "hops / các chặng đi qua:" in lines
    assert any(line.startswith(f"  1. {A.node}") and "upstream:hub" in line for line in lines)
    assert any(line.startswith(f"  2. {H.node}") for line in lines)
    as_json = await asyncio.to_thread(
        runner.invoke, app, ["messages", "trace", message_id, "--json"], env=env
    )
    assert [h["node"] for h in json.loads(as_json.output)["hops"]] == [A.node, H.node]
    unknown = await asyncio.to_thread(runner.invoke, app, ["messages", "trace", "f" * 32], env=env)
    assert unknown.exit_code == 1 and "NOT_FOUND" in unknown.output + (unknown.stderr or "")
