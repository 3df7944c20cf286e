"""How fast saga scenarios run: N scenario steps of the order saga on the pure machine.

    python -m bench.scenario_bench [--steps 1000] [--rounds 5] [--json]

Loads the order saga's scenario files (sagas/tests/order_*.yaml) once, timing the
load, then runs their cases over and over until at least `--steps` steps ran (events,
timers, time passing, faults, each with its expectations checked and its paths
recorded), `--rounds` times; prints the best and median time and the cost of a step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from saga_dsl.scenarios import Session, load_all, run_case, scenario_files

SCENARIOS = Path(__file__).resolve().parents[1] / "sagas" / "tests"


def run_steps(session: Session, wanted: int) -> int:
    """Runs the session's cases in order, round after round, until `wanted` steps ran."""
    done = 0
    while done < wanted:
        for suite in session.suites:
            for case in suite.cases:
                result = run_case(suite.machine, case)
                if not result.passed:
                    raise SystemExit(f"scenario failed: {result.case.where} {result.case.name}")
                done += result.steps_run
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000, help="scenario steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    started = time.perf_counter()
    session = load_all(scenario_files([SCENARIOS]))
    load_ms = (time.perf_counter() - started) * 1000
    if not session.suites or any(d.is_error for d in session.diagnostics):
        raise SystemExit("\n".join(str(d) for d in session.diagnostics) or "no scenarios")
    cases = sum(len(suite.cases) for suite in session.suites)

    timings: list[float] = []
    steps = 0
    for _ in range(args.rounds):
        began = time.perf_counter()
        steps = run_steps(session, args.steps)
        timings.append(time.perf_counter() - began)
    best, median = min(timings), statistics.median(timings)
    figures = {
        "scenario_files": len(session.suites),
        "scenarios": cases,
        "load_ms": round(load_ms, 1),
        "steps": steps,
        "best_ms": round(best * 1000, 2),
        "median_ms": round(median * 1000, 2),
        "us_per_step": round(median * 1e6 / steps, 1),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"scenario steps: {steps:,} in {median * 1000:.1f} ms median, {best * 1000:.1f} ms best "
        f"of {args.rounds} ({figures['us_per_step']} µs a step); "
        f"{cases} scenarios in {len(session.suites)} files loaded in {load_ms:.0f} ms"
    )


if __name__ == "__main__":
    main()
