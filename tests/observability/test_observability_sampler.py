"""The sampler's store gauges: instances by saga and state, and the parked ones by saga,
counted by the store (however many there are), not read."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bus.observability.metrics import Metrics
from bus.observability.sampler import Sampler
from bus.store import SagaRecord, open_store


def instance(n: int, saga: str, state: str, status: str = "running") -> SagaRecord:
    return SagaRecord(id=f"{saga}-{n}", saga=saga, definition_version=1 + n % 2,
                      correlation=f"c-{n}", state=state, status=status)  # type: ignore[arg-type]


def gauge(metrics: Metrics, name: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(sample.labels.values()): sample.value
        for family in metrics.registry.collect() if family.name == name
        for sample in family.samples
    }


async def test_instances_and_parked_ones_are_counted_by_saga(tmp_path: Path) -> None:
    records = [
        *(instance(n, "order", "paying") for n in range(3)),
        *(instance(n, "order", "review", "parked") for n in range(3, 7)),
        instance(7, "order", "done", "completed"),
        instance(8, "refund", "sending"),
    ]
    async with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        async with store.transaction() as tx:
            for record in records:
                await tx.saga_insert(record)
        metrics = Metrics()
        bus: Any = SimpleNamespace(store=store)
        await Sampler(metrics)._store(bus)
    assert gauge(metrics, "sagabus_saga_instances") == {
        ("order", "paying"): 3, ("order", "review"): 4, ("order", "done"): 1,
        ("refund", "sending"): 1,
    }
    assert gauge(metrics, "sagabus_saga_instances_parked") == {("order",): 4, ("refund",): 0}
