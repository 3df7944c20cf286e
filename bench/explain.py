"""RESULTS.md's section on the gaps: where the cores went during each part, and for each
goal not met, the measured profile of the same run that explains it.

Every sentence is built from the run's own figures (`Results`): the CPU per message
and statements per saga of `bench.stages`, the cores used during (1)-(4) and the
scale-out rounds (`bench.cpu`), the latencies and rates of (4), the import profile of
`sagabus status`. Nothing here is measured; it only does the arithmetic and says it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bench.cpu import CpuShare, pooled
from bench.order_saga import OrderRun, quantile
from bench.results import ORDERS_POSTGRES, ORDERS_SQLITE, RAW, Results
from bench.scaleout import ScaleOut
from bench.stages import StageFigures
from bench.waits import WaitFigures, busiest, largest

STORES = ((ORDERS_SQLITE, "sqlite", "SQLite", 0.8),
          (ORDERS_POSTGRES, "postgres", "PostgreSQL", 0.6))
"""(4)'s parts: label, store kind, store name, the goal's ratio to raw aio-pika."""
P99_GOAL = 0.300
STATEMENTS_GOAL = 25
CLI_GOAL = 0.250
SEE = "docs/performance.md"


def gaps(results: Results) -> list[str]:
    notes = [
        *_throughput(results), *_latency(results), *_statements(results),
        *_cli(results), *_scaleout(results),
    ]
    lines = [
        "## Where the time goes, and why a goal is not met (profile of this run)",
        "",
        "Generated from this run's figures: the cores used during each part (/proc:",
        "this process, which runs the bus and the driver in (1)-(4); the broker",
        "`beam.smp`; every `postgres` process; the rest of the machine), in cores",
        "(1.00 = one whole core; the broker and PostgreSQL also serve anyone else on the",
        "machine), and this process's CPU per step (a block includes the part's setup and",
        "read-back, so per step it is slightly high).",
        "",
        *_cores(results),
    ]
    if notes:
        lines += ["", *notes]
    return lines


def _cores(results: Results) -> list[str]:
    if not results.cpu:
        return ["(no CPU figures: no part of (1)-(4) ran)"]
    cores = next(iter(results.cpu.values()))[0].cores
    lines = [
        f"| part | wall s | this process | broker | PostgreSQL | everybody else "
        f"| idle (of {cores}) | this process's CPU per step |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, shares in results.cpu.items():
        share = pooled(shares)
        per_step = _cpu_per_step(results, label)
        lines.append(
            f"| {label} | {share.seconds:.0f} | {_c(share, share.bench)} "
            f"| {_c(share, share.broker)} | {_c(share, share.database)} "
            f"| {_c(share, share.others)} | {_c(share, share.idle)} "
            f"| {'' if per_step is None else f'{per_step * 1e6:,.0f} µs'} |"
        )
    return lines


def _c(share: CpuShare, cpu: float) -> str:
    return f"{share.of_a_core(cpu):.2f}"


def _steps(results: Results, label: str) -> int:
    if label in results.orders:
        return sum(r.steps for r in results.orders[label])
    return sum(r.steps for r in results.pingpong.get(label, []))


def _cpu_per_step(results: Results, label: str) -> float | None:
    steps = _steps(results, label)
    if not steps or label not in results.cpu:
        return None
    return pooled(results.cpu[label]).bench / steps


def _figure(results: Results, kind: str) -> StageFigures | None:
    return next((f for f in results.stages if f.kind == kind), None)


def _cap(figure: StageFigures) -> tuple[float, float]:
    """Loop CPU per saga (seconds) and the sagas/s one whole core allows at that."""
    per_saga = figure.loop_cpu_us * figure.messages / figure.sagas / 1e6
    return per_saga, (1 / per_saga if per_saga > 0 else 0.0)


def _steps_per_saga(runs: Sequence[OrderRun]) -> float:
    sagas = sum(r.sagas for r in runs)
    return sum(r.steps for r in runs) / sagas if sagas else 0.0


def _budget(results: Results, kind: str, steps_per_saga: float, needed: float) -> str:
    """The loop-CPU cap of (4) on `kind` against `needed` steps/s."""
    figure = _figure(results, kind)
    if figure is None:
        return ""
    per_saga, cap = _cap(figure)
    stages = sorted(figure.stage_us().items(), key=lambda item: -item[1])[:4]
    where = "above" if cap * steps_per_saga >= needed else "below"
    return (
        f" CPU budget (`bench.stages`, this run): the loop thread spends "
        f"{figure.loop_cpu_us:,.0f} µs per message and a saga is "
        f"{figure.messages / figure.sagas:.1f} messages, {per_saga * 1000:.1f} ms per saga, "
        f"so the loop alone caps the order saga at {cap:,.0f} sagas/s "
        f"({cap * steps_per_saga:,.0f} steps/s, {where} the goal's) on one whole core of "
        f"its own; its largest stages per message: "
        + ", ".join(f"{name} {us:,.0f} µs" for name, us in stages) + "."
    )


def _where_cores_went(results: Results, label: str) -> str:
    if label not in results.cpu:
        return ""
    share = pooled(results.cpu[label])
    text = (f" During it this process used {_c(share, share.bench)} of a core, the broker "
            f"{_c(share, share.broker)}, PostgreSQL {_c(share, share.database)}, everybody "
            f"else {_c(share, share.others)}; {_c(share, share.idle)} of {share.cores} "
            "cores idle")
    mine, raw = _cpu_per_step(results, label), _cpu_per_step(results, RAW)
    if mine is not None and raw:
        text += (f". This process spent {mine * 1e6:,.0f} µs of CPU per step against "
                 f"{raw * 1e6:,.0f} µs in raw aio-pika's ping-pong ({mine / raw:.1f}x)")
    if share.of_a_core(share.bench) >= 0.85:
        return text + ": this process was close to a whole core, so the gap is its CPU per step."
    if share.of_a_core(share.idle) >= 0.5:
        return text + ": a core was idle much of the time, so the run waited (commits, " \
                      "round trips to the broker and the store) more than it computed."
    return text + ": the two cores were full, shared with the broker and everybody else."


def _throughput(results: Results) -> list[str]:
    raw = [r.rate for r in results.pingpong.get(RAW, [])]
    notes = []
    for label, kind, store, goal in STORES:
        runs = results.orders.get(label, [])
        if not raw or not runs:
            continue
        ratios = [o.steps_per_second / r for o, r in zip(runs, raw, strict=False) if r > 0]
        if not ratios or statistics.median(ratios) >= goal:
            continue
        steps = statistics.median(r.steps_per_second for r in runs)
        per_saga = _steps_per_saga(runs)
        needed = goal * statistics.median(raw)
        notes.append(
            f"- **(4) on {store}: {statistics.median(ratios):.2f}x of raw aio-pika, goal "
            f"{goal}x.** It ran {steps:,.0f} steps/s ({steps / per_saga:,.1f} sagas/s, "
            f"{per_saga:.1f} steps per saga); the goal needs {needed:,.0f} steps/s "
            f"({goal} x {statistics.median(raw):,.0f})."
            + _budget(results, kind, per_saga, needed) + _where_cores_went(results, label)
            + _wall(results, kind, needed / per_saga)
            + f" Tried so far: {SEE}, \"The store and the saga step\" and \"CPU per message\"."
        )
    return notes


def _latency(results: Results) -> list[str]:
    notes = []
    for label, kind, store, _ in STORES:
        runs = results.orders.get(label, [])
        pooled_latencies = [x for r in runs for x in r.latencies]
        if not pooled_latencies:
            continue
        p99 = quantile(pooled_latencies, 0.99)
        if p99 <= P99_GOAL:
            continue
        sagas = statistics.median(r.sagas_per_second for r in runs)
        in_flight = results.in_flight
        needed = sagas * p99 / P99_GOAL
        per_saga = _steps_per_saga(runs)
        text = (
            f"- **p99 at {in_flight} in flight ({store}): {p99 * 1000:,.0f} ms, goal "
            f"{P99_GOAL * 1000:.0f} ms.** At a fixed number in flight the mean time in flight "
            f"is in flight / throughput (Little's law, in a steady state; a run's start and "
            f"drain blur it): {in_flight} / {sagas:,.1f} sagas/s = "
            f"{in_flight / sagas * 1000:,.0f} ms per order from CreateOrder to its end "
            f"(the measured part, OrderCreated -> final: mean "
            f"{statistics.mean(pooled_latencies) * 1000:,.0f} ms). So the p99 comes down to "
            f"{P99_GOAL * 1000:.0f} ms only with {p99 / P99_GOAL:.1f}x the throughput: "
            f"about {needed:,.0f} sagas/s, {needed * per_saga:,.0f} steps/s"
        )
        raw = [r.rate for r in results.pingpong.get(RAW, [])]
        if raw:
            text += f", {needed * per_saga / statistics.median(raw):.1f}x raw aio-pika's ping-pong"
        figure = _figure(results, kind)
        if figure is not None:
            per_saga_cpu, cap = _cap(figure)
            text += (f", {needed / cap:.1f}x the {cap:,.0f} sagas/s that one whole core "
                     f"allows the loop at {per_saga_cpu * 1000:.1f} ms of loop CPU per saga "
                     "(`bench.stages`)")
        notes.append(text + ". It is the throughput goal in disguise." + _chain(results, kind))
    return notes


def _waits_of(results: Results, kind: str) -> WaitFigures | None:
    return next((f for f in results.waits if f.kind == kind and f.step_ms > 0), None)


def _wall(results: Results, kind: str, needed_sagas: float) -> str:
    """Where the wall time of a step goes (`bench.waits`), and the step the goal needs."""
    f = _waits_of(results, kind)
    if f is None:
        return ""
    phase, phase_ms = largest(f)
    saga = f.saga
    needed_step = f.in_flight / (needed_sagas * f.steps_per_saga) * 1000
    return (
        f" Wall time (`bench.waits`): a step crosses a service ({f.service_crossing_ms:.1f} ms)"
        f" and the saga endpoint ({saga.crossing_ms if saga else 0.0:.1f} ms), "
        f"{f.step_ms:.1f} ms, its largest phase {phase} ({phase_ms:.1f} ms per crossing); at "
        f"{f.in_flight} in flight, Little's law gives {f.little_sagas_per_second:,.0f} sagas/s "
        f"(that run measured {f.sagas_per_second:,.1f}); the goal needs steps of "
        f"{needed_step:.1f} ms. Transactions were open {f.held_share:.2f} of that run's time"
        + (" on SQLite's one connection, which the endpoints take in turn: a batch queues "
           "for it behind the others'" if kind == "sqlite" else
           " (at once, on the pool's connections)")
        + f"; a COMMIT took {_mean_commit(f):.1f} ms against a floor of {f.floor_us:,.0f} µs "
        f"({f.floor_what}). The busiest endpoint, taking one batch at a time: {busiest(f)}."
    )


def _mean_commit(f: WaitFigures) -> float:
    return statistics.mean(e.ms["COMMIT"] for e in f.endpoints) if f.endpoints else 0.0


def _chain(results: Results, kind: str) -> str:
    """The chain of a saga's steps against the measured OrderCreated -> final."""
    f = _waits_of(results, kind)
    if f is None:
        return ""
    after = max(f.steps_per_saga - 1, 0.0)
    return (
        f" The chain (`bench.waits`): {after:.1f} steps after OrderCreated, each a service "
        f"and the saga endpoint, x {f.step_ms:.1f} ms = {f.chain_ms:,.0f} ms expected, "
        f"{f.latency_mean_ms:,.0f} ms measured (mean) in that run; a p99 of "
        f"{P99_GOAL * 1000:.0f} ms needs steps of about "
        f"{P99_GOAL * 1000 / after if after else 0.0:.0f} ms at most."
    )


def _statements(results: Results) -> list[str]:
    notes = []
    for figure in results.stages:
        if figure.statements_per_saga <= STATEMENTS_GOAL:
            continue
        name, count = figure.statements.calls.most_common(1)[0]
        notes.append(
            f"- **Statements per saga ({figure.kind}): {figure.statements_per_saga:.1f}, goal "
            f"{STATEMENTS_GOAL}** ({figure.statements_per_saga - STATEMENTS_GOAL:.1f} to go; "
            f"{figure.statements.total / figure.messages:.1f} per message; the most, "
            f"{name} {count / figure.sagas:.1f} per saga, the rest by driver call under the "
            f"stage table below). What they are by SQL text, and what was folded already: "
            f"{SEE}, \"Statements per order saga\"."
        )
    return notes


def _cli(results: Results) -> list[str]:
    parked = results.parked
    if parked is None or not parked.status_cli:
        return []
    cli = statistics.median(parked.status_cli)
    if cli < CLI_GOAL:
        return []
    start = statistics.median(parked.python_start)
    work = statistics.median(parked.status_by_id)
    text = (
        f"- **`sagabus status ID` as a process: {cli * 1000:,.0f} ms, goal "
        f"{CLI_GOAL * 1000:.0f} ms.** `python -c pass` takes {start * 1000:,.0f} ms and the "
        f"command's own work {work * 1000:.1f} ms, so about {(cli - start - work) * 1000:,.0f} "
        "ms are imports"
    )
    if parked.imports:
        total = sum(ms for _, ms in parked.imports)
        text += (" (`python -X importtime`, one run, cumulative per top-level import, "
                 f"{total:,.0f} ms in all: "
                 + ", ".join(f"{name} {ms:,.0f}" for name, ms in parked.imports[:8]) + ")")
    notes = [text + f". What was cut and what is left: {SEE}, \"The CLI as a process\"."]
    return notes


def _scaleout(results: Results) -> list[str]:
    out: ScaleOut | None = results.scaleout
    if out is None or not out.ratio(2):
        return []
    one, two = out.share(1), out.share(2)
    cpu1, cpu2 = out.median_cpu(1), out.median_cpu(2)
    text = (
        f"- **Scale-out: 2 daemons {statistics.median(out.ratio(2)):.2f}x of 1** "
        f"({out.median_rate(1):.1f} -> {out.median_rate(2):.1f} sagas/s, "
        f"{out.rounds[0].sagas} sagas per round, rounds: {len(out.of(1))} each, alternating, on "
        f"one PostgreSQL and one namespace). The daemons' CPU per saga: {cpu1 * 1000:.1f} ms "
        f"with one, {cpu2 * 1000:.1f} ms with two ({(cpu2 / cpu1 - 1) * 100:+.0f}%), so one "
        f"daemon's core caps it at about {1 / cpu1:,.0f} sagas/s. Cores with 1 daemon: "
        f"daemon {_c(one, one.extra)}, broker {_c(one, one.broker)}, PostgreSQL "
        f"{_c(one, one.database)}, this process (driving the orders) {_c(one, one.bench)}, "
        f"everybody else {_c(one, one.others)}, idle {_c(one, one.idle)}; with 2: daemons "
        f"{_c(two, two.extra)}, broker {_c(two, two.broker)}, PostgreSQL "
        f"{_c(two, two.database)}, this process {_c(two, two.bench)}, everybody else "
        f"{_c(two, two.others)}, idle {_c(two, two.idle)} (of {two.cores})."
    )
    if two.of_a_core(two.idle) < 0.3:
        text += (f" Why: with {two.cores} cores and no core idle, the second daemon has no "
                 "core of its own; it only adds work (each daemon takes smaller batches, so "
                 "the per-batch costs, BEGIN/COMMIT, the outbox write, a publish round and an "
                 "ack, are shared by fewer deliveries, and the two wait on each other's "
                 "locks in PostgreSQL).")
    else:
        text += (" Why: a core was idle part of the time, so CPU was not the whole limit: "
                 "the shared parts (PostgreSQL's commits and the event table's lock, one "
                 "queue per endpoint in the broker) are.")
    return [text + f" Where the bottleneck goes with N daemons: {SEE}."]
