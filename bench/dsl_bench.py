"""Cost of the saga language: validating and compiling a big saga, and one `handle` call.

    python -m bench.dsl_bench [--states 1000] [--rounds 5] [--handles 20000] [--json]

Figures:

- validate + compile of a generated saga of N states (default 1,000), each state with a
  command, a retry, a timeout, a plain and a guarded transition (about 25 YAML values and
  5 expressions per state): the time of `saga_dsl.load` (read, parse, schema, expressions,
  every check) and of `saga_dsl.compile`, best and median of R rounds;
- `Machine.handle` on the order saga: microseconds per call for an accepted event with a
  guard and `set` (PaymentSucceeded), an event the state ignores, and a retry timer;
  and a whole order, start to completed (four calls).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import saga_dsl
from saga_dsl import EventInput, Machine, SagaInstance, TimerFired

SHOWCASE = Path(__file__).resolve().parents[1] / "sagas" / "order_processing.yaml"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = {
    "order_id": "o-1",
    "customer_id": "c-1",
    "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price": 12.5}],
    "amount": 25.0,
}


def generated_saga(states: int) -> str:
    """A valid saga of `states` states in a chain, with guards, retries and timeouts."""
    lines = [
        "saga: generated",
        "version: 1",
        "start:",
        "  on: OrderCreated",
        "  set: {order_id: '${ event.order_id }', amount: '${ event.amount }'}",
        "correlate: order_id",
        "initial: s0",
        "states:",
    ]
    for i in range(states):
        lines += [
            f"  s{i}:",
            "    send:",
            "      command: ProcessPayment",
            "      with: {order_id: '${ saga.order_id }', amount: '${ saga.amount }'}",
            "    retry: {attempts: 2, after: 1s}",
            "    timeout: {after: 10s, goto: failed}",
            "    on:",
            f"      PaymentSucceeded: {{set: {{step: {i}}}, goto: s{i + 1}}}",
            "      PaymentFailed:",
            f"        - if: event.reason == 'retry' && saga.amount > {i}",
            f"          goto: s{max(i - 1, 0)}",
            "        - goto: failed",
        ]
    lines += [f"  s{states}: {{end: success}}", "  failed: {end: failure}"]
    return "\n".join(lines) + "\n"


def time_load(text: str, rounds: int) -> dict[str, float]:
    loads, compiles = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        result = saga_dsl.load(text)
        loaded = time.perf_counter()
        assert result.definition is not None, result.diagnostics[:3]
        saga_dsl.compile(result.definition)
        compiles.append(time.perf_counter() - loaded)
        loads.append(loaded - started)
    return {
        "validate_best_ms": min(loads) * 1000,
        "validate_median_ms": statistics.median(loads) * 1000,
        "compile_best_ms": min(compiles) * 1000,
        "compile_median_ms": statistics.median(compiles) * 1000,
    }


def per_call(fn: Callable[[], Any], calls: int) -> float:
    """Microseconds per call, best of three runs of `calls` calls."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter() - started)
    return best / calls * 1e6


def time_handle(machine: Machine, calls: int) -> dict[str, float]:
    started = machine.start(EventInput("OrderCreated", ORDER), NOW).instance
    paid = EventInput("PaymentSucceeded", {"order_id": "o-1", "payment_id": "p-1", "amount": 25.0})
    ignored = EventInput("OrderShipped", {"order_id": "o-1", "tracking_number": "T"})
    retry = TimerFired(started.timers[0])

    def whole_order() -> SagaInstance:
        step = machine.start(EventInput("OrderCreated", ORDER), NOW)
        step = machine.handle(step.instance, paid, NOW)
        step = machine.handle(step.instance, EventInput("InventoryReserved", ORDER), NOW)
        shipped = EventInput("OrderShipped", {"order_id": "o-1", "tracking_number": "T"})
        return machine.handle(step.instance, shipped, NOW).instance

    assert whole_order().status == "completed"
    return {
        "handle_guarded_event_us": per_call(lambda: machine.handle(started, paid, NOW), calls),
        "handle_ignored_event_us": per_call(lambda: machine.handle(started, ignored, NOW), calls),
        "handle_retry_timer_us": per_call(lambda: machine.handle(started, retry, NOW), calls),
        "whole_order_4_calls_us": per_call(whole_order, calls // 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--states", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--handles", type=int, default=20_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    text = generated_saga(args.states)
    result = saga_dsl.load(SHOWCASE)
    assert result.definition is not None
    figures: dict[str, Any] = {
        "python": platform.python_version(),
        "states": args.states,
        "saga_bytes": len(text.encode()),
        **time_load(text, args.rounds),
        **time_handle(saga_dsl.compile(result.definition), args.handles),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"saga of {args.states} states ({figures['saga_bytes']:,} bytes), {args.rounds} rounds")
    print(
        f"  validate: best {figures['validate_best_ms']:.0f} ms, "
        f"median {figures['validate_median_ms']:.0f} ms"
    )
    print(
        f"  compile:  best {figures['compile_best_ms']:.1f} ms, "
        f"median {figures['compile_median_ms']:.1f} ms"
    )
    print("Machine.handle on the order saga (best of 3):")
    for key in (
        "handle_guarded_event_us",
        "handle_ignored_event_us",
        "handle_retry_timer_us",
        "whole_order_4_calls_us",
    ):
        print(f"  {key.removesuffix('_us').replace('_', ' ')}: {figures[key]:.1f} µs")


if __name__ == "__main__":
    main()
