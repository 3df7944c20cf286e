"""`/metrics` after a run of orders through the engine on real RabbitMQ: every counter
says what happened, no more, no less."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from observability_support import (
    COMPLETED,
    DECLINED,
    OUT_OF_STOCK,
    SAGA,
    Samples,
    finished,
    order_endpoints,
    order_saga,
    place,
    scrape,
    total,
)
from support.broker import TestBroker

from bus.observability.metrics import Metrics
from bus.observability.probes import Probes, probe_app
from bus.observability.sampler import Sampler
from bus.observability.web_server import WebServer
from bus.settings import Settings
from bus.store import Store
from bus.unitofwork.runtime import Bus

pytestmark = pytest.mark.integration

PATHS = (COMPLETED, DECLINED, OUT_OF_STOCK)
ORDERS = 100


async def test_metrics_count_every_order_by_outcome(
    settings: Settings, store: Store, rabbitmq: TestBroker, tmp_path: Path, eventually
) -> None:
    endpoints, runtime = order_endpoints(order_saga(tmp_path / "sagas"))
    await runtime.pin(store)
    metrics = Metrics()
    sampler = Sampler(metrics, interval=0.2)
    bus = Bus(settings, store, endpoints, background=[runtime.scheduler, sampler],
              observers=[metrics])
    rabbitmq.track(bus.topology())
    plan = [(f"order-{i:03d}", PATHS[i % len(PATHS)]) for i in range(ORDERS)]
    paths = Counter(path for _, path in plan)
    probes = probe_app(Probes(metrics, bus=bus))
    async with WebServer(probes, host="127.0.0.1", port=0, name="probes") as server, bus:
        url = f"http://127.0.0.1:{server.port}/metrics"
        await place(settings, plan)
        records = await finished(store, ORDERS, within=60)
        assert Counter(r.state for r in records.values()) == {
            "completed": paths[COMPLETED], "cancelled": paths[DECLINED] + paths[OUT_OF_STOCK]
        }
        # the last messages (CancelOrder, OrderCompleted, ...) are handled after the
        # sagas end, and the sampler reads the store and the queues every 0.2 s
        async def settled() -> Samples | None:
            s = await scrape(url)
            handled = "sagabus_messages_handled_total"
            done = (
                total(s, handled, endpoint="notifications") == ORDERS
                and total(s, handled) == total(s, "sagabus_messages_consumed_total")
                and total(s, "sagabus_outbox_backlog") == 0
                and total(s, "sagabus_queue_depth") == 0
                and total(s, "sagabus_saga_instances", state="completed") == paths[COMPLETED]
            )
            return s if done else None

        s = await eventually(settled, timeout=20, what="every message handled and sampled")

    saga = {"saga": SAGA}
    # sagas: started, finished by outcome, how long they took, what they undid
    assert total(s, "sagabus_sagas_started_total", **saga) == ORDERS
    assert total(s, "sagabus_sagas_finished_total", **saga) == ORDERS
    assert total(s, "sagabus_sagas_finished_total", outcome="success") == paths[COMPLETED]
    assert total(s, "sagabus_sagas_finished_total", outcome="failure") == (
        paths[DECLINED] + paths[OUT_OF_STOCK]
    )
    assert total(s, "sagabus_saga_duration_seconds_count", **saga) == ORDERS
    assert total(s, "sagabus_saga_duration_seconds_sum", **saga) > 0
    # out of stock refunds the payment: the compensation of awaiting_payment, once each
    assert total(s, "sagabus_saga_compensations_total", state="awaiting_payment") == (
        paths[OUT_OF_STOCK]
    )
    assert total(s, "sagabus_saga_compensations_total") == paths[OUT_OF_STOCK]
    assert total(s, "sagabus_sagas_parked_total") == 0
    # messages: every order charged once, nothing failed, retried or dead-lettered
    handled = "sagabus_messages_handled_total"
    assert total(s, handled, endpoint="orders", type="CreateOrder", outcome="success") == ORDERS
    assert total(s, handled, endpoint="payments", type="ProcessPayment") == ORDERS
    assert total(s, handled, endpoint="payments", type="RefundPayment") == paths[OUT_OF_STOCK]
    assert total(s, handled, endpoint="shipping", type="ShipOrder") == paths[COMPLETED]
    assert total(s, handled, outcome="failed") == 0
    assert total(s, "sagabus_messages_retried_total") == 0
    assert total(s, "sagabus_messages_dead_lettered_total") == 0
    consumed = total(s, "sagabus_messages_consumed_total")
    assert total(s, "sagabus_consumer_lag_seconds_count") == consumed
    assert total(s, "sagabus_handler_duration_seconds_count") == total(
        s, handled, outcome="success"
    )
    # what the saga sent went out once each, confirmed
    published = "sagabus_messages_published_total"
    assert total(s, published, type="ProcessPayment", outcome="confirmed") == ORDERS
    assert total(s, published, type="CancelOrder", outcome="confirmed") == (
        paths[DECLINED] + paths[OUT_OF_STOCK]
    )
    assert total(s, published, outcome="failed") == 0
    # sampled: instances by state, nothing parked, queues drained, no timer late
    assert total(s, "sagabus_saga_instances", state="cancelled") == (
        paths[DECLINED] + paths[OUT_OF_STOCK]
    )
    assert total(s, "sagabus_saga_instances_parked", **saga) == 0
    queues = {dict(labels)["queue"] for (name, labels) in s if name == "sagabus_queue_depth"}
    assert {p.queue for p in bus.pipelines} <= queues
    assert total(s, "sagabus_timer_delay_seconds") == 0
