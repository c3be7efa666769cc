"""The metrics the alerts read are really emitted: store and broker errors are counted where
they are translated, and the parked-deliveries gauge follows the store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.delivery.broker import Broker
from gateway.errors import BrokerError, StoreError
from gateway.ops import metrics, state_metrics
from gateway.store import repository as repo
from gateway.store.database import create_engine, create_schema, transaction
from tests import store_rows
from tests.services import free_port


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_a_store_error_is_counted(tmp_path: Path) -> None:
    before = _value("edoc_gateway_store_errors_total")
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    with pytest.raises(StoreError):
        async with transaction(engine) as conn:
            await repo.delivery_counts(conn)
    await engine.dispose()
    assert _value("edoc_gateway_store_errors_total") == before + 1


async def test_a_broker_error_is_counted() -> None:
    before = _value("edoc_gateway_broker_errors_total")
    with pytest.raises(BrokerError):
        await Broker().connect(f"amqp://guest:guest@127.0.0.1:{free_port()}/", timeout=2)
    assert _value("edoc_gateway_broker_errors_total") == before + 1


async def test_the_state_gauge_follows_the_store(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    await create_schema(engine)
    now = datetime.now(UTC)
    msg = repo.NewMessage(
        kind="document",
        sender="000.00.00.G22",
        document_id="d1",
        content_sha256="a" * 64,
        blob_key="a" * 64,
        size=1,
        caller_system="s",
        accepted_at=now,
        legal_receipt_at=now,
        signature_status="absent",
    )
    deliveries = [repo.NewDelivery("000.00.00.H41", "000.00.00.H41") for _ in range(3)]
    async with transaction(engine) as conn:
        await store_rows.insert_message(conn, msg, deliveries)
        await repo.mark_parked(conn, deliveries[0].id, "gone")
        await repo.mark_parked(conn, deliveries[1].id, "gone")
    await state_metrics.refresh(engine)
    assert _value("edoc_gateway_deliveries_in_state", {"state": "parked"}) == 2
    assert _value("edoc_gateway_deliveries_in_state", {"state": "pending"}) == 1
    assert _value("edoc_gateway_deliveries_in_state", {"state": "acked"}) == 0
    async with transaction(engine) as conn:
        await repo.reset_for_replay(conn, [deliveries[0].id, deliveries[1].id])
    await state_metrics.refresh(engine)
    assert _value("edoc_gateway_deliveries_in_state", {"state": "parked"}) == 0
    await engine.dispose()
