"""The store of waiting instances of (5): order sagas in `manual_review`, each with its
review timeout armed a day ahead and its history, as a daemon finds it after a busy month.

    fill(url, instances, history_rows) -> the id of the instance `status` is asked about

Every instance is the one the saga engine writes: the machine is started by an
OrderCreated and steps on a PaymentSucceeded (`Machine.start`, `Machine.handle`), the
record is made by `write_instance`, and the rows go in through the store API
(`saga_insert`, `timer_arm`, `history_append`): `fill_through_api` does exactly that
for every instance, 1,000 per transaction; its time grows faster than the count as the
store outgrows SQLite's page cache (28 s for 100,000 instances, about 24 minutes for
a million on 2 cores).

On SQLite `fill` writes only the first instance that way (`parked-0000000`) and then
copies its rows, as the store wrote them, for the others: the same columns with the
instance's own id (`instance_id(saga, correlation)`), correlation, `order_id` in its
data, `started_by` in its bookkeeping and a message id of its own on each history
row; timers and history keep every other column (due time, payload, states, effects,
seq). The copies go in with `executemany` in the order of their primary key, 50,000
instances per transaction. `tests/benchmarks/test_bench_fill.py` checks that both fills
leave the same rows, apart from those ids.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from bench.order_saga import SAGA, SAGAS
from bus.daemon import import_package
from bus.store import HistoryRecord, SagaRecord, TimerRecord, open_store
from bus.store.codec import HISTORY_COLUMNS, SAGA_COLUMNS, dump_json
from bus.store.sqlite import database_path
from bus.wire.envelope import new_id, utcnow
from saga_dsl import ArmTimer, EventInput
from saga_dsl.engine.endpoint import instance_id
from saga_dsl.engine.recording import write_instance
from saga_dsl.engine.wiring import saga_runtime

API_BATCH = 1_000
"""Instances per transaction through the store API."""
COPY_BATCH = 50_000
"""Instances per transaction when copying on SQLite."""
TIMER_AHEAD = timedelta(days=1)
TIMER_COPIED = "instance_id, saga, name, due_at, payload"


def correlation_of(n: int) -> str:
    return f"parked-{n:07d}"


def asked_about(instances: int) -> str:
    """The instance `status` is asked about: one from the middle."""
    return instance_id(SAGA, correlation_of(instances // 2))


def per_instance(instances: int, history_rows: int) -> int:
    """History rows of each instance: at least the two real steps."""
    return max(2, history_rows // max(instances, 1))


async def fill(url: str, instances: int, history_rows: int) -> str:
    """Writes `instances` waiting instances with `history_rows` history rows spread over
    them (at least two each) into the store at `url`; see the module's docstring."""
    if not url.startswith("sqlite:") or instances < 1:
        return await fill_through_api(url, instances, history_rows)
    await fill_through_api(url, 1, per_instance(instances, history_rows))
    copy_instances(database_path(url), instance_id(SAGA, correlation_of(0)), range(1, instances))
    return asked_about(instances)


async def fill_through_api(url: str, instances: int, history_rows: int) -> str:
    """Every instance through the store API (any backend)."""
    import_package("handlers")  # the contracts the saga file is checked against
    [endpoint] = saga_runtime(SAGAS).endpoints
    machine = endpoint.machine
    now = utcnow()
    order = {
        "order_id": "template", "customer_id": "customer-1",
        "items": [{"sku": "PIANO-1", "quantity": 1, "unit_price": 20_000.0}],
        "amount": 20_000.0,
    }
    started = machine.start(EventInput("OrderCreated", order, new_id()), now)
    reviewing = machine.handle(
        started.instance,
        EventInput("PaymentSucceeded", {"order_id": "template", "payment_id": "pay-1",
                                        "amount": 20_000.0}, new_id()),
        now,
    )
    assert reviewing.to_state == "manual_review", reviewing.to_state
    timers = [e.name for e in reviewing.effects if isinstance(e, ArmTimer)]
    steps = [("OrderCreated", started), ("PaymentSucceeded", reviewing)]
    rows = per_instance(instances, history_rows)
    async with open_store(url) as store:
        for first in range(0, instances, API_BATCH):
            async with store.transaction() as tx:
                history: list[HistoryRecord] = []
                for n in range(first, min(first + API_BATCH, instances)):
                    correlation = correlation_of(n)
                    record = write_instance(
                        SagaRecord(
                            id=instance_id(SAGA, correlation), saga=SAGA,
                            definition_version=machine.version, correlation=correlation,
                            state=reviewing.to_state, machine={"started_by": new_id()},
                        ),
                        reviewing.instance,
                    )
                    record.data = {**record.data, "order_id": correlation}
                    await tx.saga_insert(record)
                    for name in timers:
                        await tx.timer_arm(
                            TimerRecord(instance_id=record.id, saga=SAGA, name=name,
                                        due_at=now + TIMER_AHEAD)
                        )
                    for i in range(rows):
                        label, step = steps[i % len(steps)]
                        history.append(
                            HistoryRecord(
                                instance_id=record.id, at=now, input=label,
                                message_id=new_id(), from_state=step.from_state,
                                to_state=step.to_state,
                                effects=[e.to_json() for e in step.effects],
                            )
                        )
                await tx.history_append(history)
    return asked_about(instances)


class Model:
    """One instance's rows as the store wrote them, and its copies for other orders."""

    def __init__(self, conn: sqlite3.Connection, model_id: str) -> None:
        [self.saga] = conn.execute(
            f"SELECT {SAGA_COLUMNS} FROM saga_instance WHERE id = ?", (model_id,)
        ).fetchall()
        self.timers = conn.execute(
            f"SELECT {TIMER_COPIED} FROM timer WHERE instance_id = ? ORDER BY id", (model_id,)
        ).fetchall()
        self.history = conn.execute(
            f"SELECT {HISTORY_COLUMNS} FROM saga_history WHERE instance_id = ? ORDER BY seq",
            (model_id,),
        ).fetchall()
        self.data: dict[str, Any] = json.loads(self.saga[6])
        self.machine: dict[str, Any] = json.loads(self.saga[7])

    def saga_row(self, new: str, correlation: str) -> tuple[Any, ...]:
        row = list(self.saga)
        row[0], row[3] = new, correlation
        row[6] = dump_json({**self.data, "order_id": correlation})
        row[7] = dump_json({**self.machine, "started_by": new_id()})
        return tuple(row)

    def timer_rows(self, new: str) -> Iterator[tuple[Any, ...]]:
        for timer in self.timers:
            yield (new, *timer[1:])

    def history_rows(self, new: str) -> Iterator[tuple[Any, ...]]:
        for row in self.history:
            yield (new, row[1], row[2], row[3], None if row[4] is None else new_id(), *row[5:])


def copy_instances(path: str, model_id: str, numbers: Sequence[int]) -> None:
    """Copies the rows of instance `model_id` for the orders `numbers` into the SQLite
    file at `path`, in primary-key order, `COPY_BATCH` instances per transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA cache_size = -400000")  # 400 MB: the indexes stay in memory
        model = Model(conn, model_id)
        ordered = sorted((instance_id(SAGA, correlation_of(n)), n) for n in numbers)
        saga_sql = (f"INSERT INTO saga_instance ({SAGA_COLUMNS}) "
                    f"VALUES ({', '.join('?' * len(model.saga))})")
        timer_sql = f"INSERT INTO timer ({TIMER_COPIED}) VALUES (?, ?, ?, ?, ?)"
        history_sql = (f"INSERT INTO saga_history ({HISTORY_COLUMNS}) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        for first in range(0, len(ordered), COPY_BATCH):
            batch = ordered[first:first + COPY_BATCH]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(saga_sql, (model.saga_row(i, correlation_of(n)) for i, n in batch))
            conn.executemany(timer_sql, (row for i, _ in batch for row in model.timer_rows(i)))
            conn.executemany(history_sql,
                             (row for i, _ in batch for row in model.history_rows(i)))
            conn.execute("COMMIT")
    finally:
        conn.close()
