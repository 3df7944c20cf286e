"""RESULTS.md's goal rows and its generated notes on the gaps, from made-up figures."""

from __future__ import annotations

from collections import Counter

from bench.conversation import Run
from bench.cpu import CpuShare
from bench.order_saga import OrderRun
from bench.report import render
from bench.results import FASTSTREAM, ORDERS_POSTGRES, ORDERS_SQLITE, RAW, SAGABUS, Results
from bench.scaleout import ScaleOut, ScaleRound
from bench.scaling import ParkedResult
from bench.stages import StageFigures, Statements


def orders(label: str, seconds: float) -> OrderRun:
    return OrderRun(label=label, sagas=300, steps=1_400, seconds=seconds,
                    latencies=[0.5] * 300)


def results() -> Results:
    share = CpuShare(seconds=4.0, bench=3.6, broker=2.0, database=0.1, machine=7.6, cores=2)
    busy = CpuShare(seconds=6.0, bench=0.3, broker=2.0, database=2.0, extra=4.2, machine=11.9,
                    cores=2)
    return Results(
        settings={}, in_flight=100,
        pingpong={RAW: [Run(1_000, 1.0, [0.01])], FASTSTREAM: [Run(800, 1.0, [0.01])],
                  SAGABUS: [Run(1_300, 1.0, [0.01])]},
        orders={ORDERS_SQLITE: [orders(ORDERS_SQLITE, 2.0)],
                ORDERS_POSTGRES: [orders(ORDERS_POSTGRES, 4.0)]},
        stages=[StageFigures(
            kind="sqlite", sagas=100, messages=1_080,
            statements=Statements(Counter({"sqlite.execute": 2_000, "sqlite.fetchall": 1_740})),
            loop_cpu_us=700.0, other_threads_cpu_us=50.0,
            shares={"handler": 0.3, "amqp in": 0.3, "other": 0.4}, calls_per_message=1_000.0,
        )],
        cpu={RAW: [CpuShare(seconds=1.0, bench=0.5, machine=1.5, cores=2)],
             ORDERS_SQLITE: [share], ORDERS_POSTGRES: [share]},
        scaleout=ScaleOut([ScaleRound(1, 50.0, busy, 300), ScaleRound(2, 35.0, busy, 300)]),
        parked=ParkedResult(1_000, 2_000, 1.0, status_by_id=[0.002], status_by_order=[0.002],
                            status_cli=[0.6], python_start=[0.05],
                            imports=[("pydantic", 200.0), ("structlog", 100.0)],
                            rss_started_mb=70.0, rss_after_mb=75.0, rss_peak_mb=76.0),
    )


def test_every_goal_of_the_issue_has_a_row_with_its_verdict() -> None:
    text = render(results())
    for row in (
        "| (4)/(1) order saga steps/s on SQLite vs raw aio-pika >= 0.8x | **0.70x** | **no** |",
        "| (4)/(1) order saga steps/s on PostgreSQL vs raw aio-pika >= 0.6x | **0.35x** | **no** |",
        "| (4) p99 OrderCreated -> final state at 100 in flight <= 300 ms (SQLite) "
        "| 500 ms (p50 500 ms) | **no** |",
        "| (4) p99 OrderCreated -> final state at 100 in flight <= 300 ms (PostgreSQL) "
        "| 500 ms (p50 500 ms) | **no** |",
        "| statements per order saga <= 25 (sqlite) | 37.4 | **no** |",
        "| 1,000 waiting instances: daemon RSS < 300 MB | 76 MB peak | yes |",
        "| `sagabus status ID` as a process < 250 ms | 600 ms (`python -c pass`: 50 ms) | **no** |",
        "| scale-out: 2 daemons on one PostgreSQL vs 1, same run (a figure to report; why: "
        "below) | **0.70x** (50.0 -> 35.0 sagas/s) | n/a |",
    ):
        assert row in text, row


def test_each_unmet_goal_is_explained_by_the_figures_of_the_run() -> None:
    text = render(results())
    gaps = text.split("## Where the time goes")[1].split("\n## ")[0]
    # where the cores went: 3.6 CPU s in 4 s is 0.90 of a core; 8 - 7.6 = 0.4 s idle;
    # everybody else: 7.6 - 3.6 - 2.0 - 0.1 = 1.9 s, 0.47 of a core
    assert "| (4) order saga, SQLite | 4 | 0.90 | 0.50 | 0.03 | 0.47 | 0.10 | 2,571 µs |" in gaps
    # the loop's CPU budget: 700 µs x 10.8 messages = 7.6 ms per saga, 132 sagas/s
    assert "7.6 ms per saga, so the loop alone caps the order saga at 132 sagas/s" in gaps
    assert "this process was close to a whole core" in gaps
    assert "500 µs in raw aio-pika's ping-pong (5.1x)" in gaps
    # Little's law: 100 in flight at 150 sagas/s; 500 ms -> 300 ms needs 1.7x
    assert "100 / 150.0 sagas/s = 667 ms" in gaps
    assert "1.7x the throughput: about 250 sagas/s" in gaps
    assert "1.9x the 132 sagas/s that one whole core allows the loop at 7.6 ms" in gaps
    assert "(12.4 to go; 3.5 per message; the most, sqlite.execute 20.0 per saga" in gaps
    assert "pydantic 200, structlog 100" in gaps
    assert "daemon's core caps it at about 71 sagas/s" in gaps
    assert "the second daemon has no core of its own" in gaps
    assert "(3)/(1)" not in gaps  # met goals need no note
