"""The wall-time profile of the order saga (`bench.waits`): its section and notes in
RESULTS.md from made-up figures, and a small real run against RabbitMQ and SQLite."""

from __future__ import annotations

from pathlib import Path

from bench.report import render
from bench.results import ORDERS_SQLITE
from bench.waits import PHASES, EndpointWaits, WaitFigures, measure
from bus.unitofwork.pipeline import Pipeline
from tests.benchmarks.test_bench_report import results


def endpoint(name: str, batches: int, deliveries: int, **ms: float) -> EndpointWaits:
    phases = dict.fromkeys(PHASES, 0.0) | {k.replace("_", " "): v for k, v in ms.items()}
    return EndpointWaits(name=name, batches=batches, deliveries=deliveries,
                         median_batch=deliveries / batches, ms=phases, waited=0.25)


def figures() -> WaitFigures:
    saga = endpoint("saga.order_processing", 10, 200, idle=1.0, queued=10.0, handling=6.0,
                    COMMIT=2.0, ack=0.5)
    saga.ms["lock + BEGIN"], saga.ms["publish + confirms"] = 5.0, 4.0
    payments = endpoint("payments", 20, 100, queued=3.0, handling=1.0, COMMIT=1.0)
    payments.ms["lock + BEGIN"], payments.ms["settling wait"] = 10.0, 1.0
    payments.ms["publish + confirms"] = 2.0
    saga.busy = 0.9
    return WaitFigures(kind="sqlite", sagas=300, in_flight=100, endpoints=[saga, payments],
                       sagas_per_second=150.0, steps_per_saga=4.5, latency_mean_ms=200.0,
                       floor_us=140.0, floor_what="write + fsync of 4 KiB", seconds=0.5)


def test_the_wall_time_section_has_each_endpoint_and_the_chain() -> None:
    made_up = results()
    made_up.waits = [figures()]
    text = render(made_up)
    section = text.split("## Where the wall time goes, by endpoint and phase")[1]
    # crossing: queued + lock + handling + COMMIT + settling wait + publish
    assert ("| sqlite | saga.order_processing | 10 | 20.0 / 20 | 1.0 | 10.0 | 5.0 | 6.0 | 2.0 "
            "| 0.0 | 4.0 | 0.5 | 25% | 27.0 | 0.90 |") in section
    payments = "| sqlite | payments | 20 | 5.0 / 5 | 0.0 | 3.0 | 10.0 | 1.0 | 1.0 | 1.0 | 2.0 "
    assert payments in section
    # a step: 18 + 27 = 45 ms; 3.5 steps after OrderCreated: 158 ms; 100 / (4.5 x 45 ms)
    assert "3.5 steps after OrderCreated x 45.0 ms = 158 ms expected" in section
    assert "= 494 sagas/s in a steady state; the run measured 150.0" in section
    # transactions open: 10 x 8 ms + 20 x 2 ms = 0.12 s of 0.5 s
    assert "(handling + COMMIT): 0.24 of the run's 0.5 s on SQLite's one connection" in section
    assert "the floor, write + fsync of 4 KiB: 140 µs (median)" in section


def test_the_unmet_goals_cite_the_wall_time_profile() -> None:
    made_up = results()
    made_up.waits = [figures()]
    gaps = render(made_up).split("## Where the time goes")[1].split("\n## ")[0]
    throughput = next(line for line in gaps.splitlines() if "(4) on SQLite" in line)
    # largest phase weighted by deliveries: queued (10 x 200 + 3 x 100) / 300
    assert "45.0 ms, its largest phase queued (7.7 ms per crossing)" in throughput
    # the goal: 800 steps/s at 4.67 steps per saga is 171 sagas/s; 100 / (171 x 4.5)
    assert "the goal needs steps of 129.6 ms" in throughput
    assert "a COMMIT took 1.5 ms against a floor of 140 µs" in throughput
    # the saga endpoint's work per batch: 5 + 6 + 2 ms
    assert ("busiest endpoint, taking one batch at a time: saga.order_processing (0.90 of the "
            "run in its batches' work, of which lock + BEGIN 38%, handling 46%, COMMIT 15%)"
            ) in throughput
    latency = next(line for line in gaps.splitlines() if "p99 at 100 in flight (SQLite)" in line)
    assert "x 45.0 ms = 158 ms expected, 200 ms measured (mean)" in latency
    assert "needs steps of about 86 ms at most" in latency
    assert ORDERS_SQLITE in made_up.orders


async def test_a_small_real_run_times_every_endpoint_phase_by_phase(tmp_path: Path) -> None:
    methods = {name: Pipeline.__dict__[name]
               for name in ("start", "_work", "_settle_or_requeue", "_publish")}
    measured = await measure("sqlite", str(tmp_path), sagas=12, in_flight=6)
    assert {e.name for e in measured.endpoints} >= {
        "saga.order_processing", "orders", "payments", "inventory"}
    assert measured.saga is not None
    for e in measured.endpoints:
        assert e.batches > 0 and e.deliveries >= e.batches
        assert all(ms >= 0 for ms in e.ms.values()), e
        assert e.ms["COMMIT"] > 0 and e.ms["handling"] > 0, e
    assert measured.saga.ms["publish + confirms"] > 0
    assert measured.chain_ms > 0 and measured.latency_mean_ms > 0
    assert measured.floor_us > 0 and measured.seconds > 0
    assert 0 < measured.saga.busy < 1.5
    # the wrapping ends with the run
    assert all(Pipeline.__dict__[name] is f for name, f in methods.items())
