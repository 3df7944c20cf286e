"""The benchmark's one table: absolute figures, the ratios the goals are about, the
machine and the versions, as Markdown for `bench/RESULTS.md` (and the terminal).

Figures measured several times (`--repeat`) show the median and the spread (min-max
and the coefficient of variation); ratios are taken per repeat between runs made
back to back, then the median and range of those ratios are shown, which cancels
much of the noise of a shared machine.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sqlite3
import statistics
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import aio_pika
import asyncpg  # type: ignore[import-untyped, unused-ignore]

from bench.explain import STORES, gaps
from bench.order_saga import PG_URL, quantile
from bench.results import (
    FASTSTREAM,
    RAW,
    SAGABUS,
    Results,
)
from bench.scaling import DAEMON_ORDERS, HUGE, ParkedResult
from bench.stages import detail, table
from bench.waits import CROSSING, chain
from bench.waits import table as wait_table

PACKAGES = ("sagabus", "aio-pika", "aiormq", "uvloop", "faststream", "pydantic", "orjson",
            "aiosqlite", "asyncpg", "common-expression-language")

# -- what the machine is -------------------------------------------------------------
def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ram = "unknown"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "nproc": str(os.cpu_count()),
        "CPU": cpu,
        "RAM": ram,
        "OS": f"{platform.system()} {platform.release()}",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


async def versions(amqp_url: str, postgres: bool) -> dict[str, str]:
    found = {"Python": platform.python_version(), "SQLite": sqlite3.sqlite_version}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    connection = await aio_pika.connect(amqp_url)
    try:
        underlay = connection.transport
        properties = underlay.connection.server_properties if underlay is not None else {}
        version = properties.get("version", "?")
        found["RabbitMQ"] = version.decode() if isinstance(version, bytes) else str(version)
    finally:
        await connection.close()
    if postgres:
        conn = await asyncpg.connect(PG_URL)
        try:
            found["PostgreSQL"] = str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()
    return found


def postgres_reachable() -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncio.wait_for(asyncpg.connect(PG_URL), 5)
        except (OSError, TimeoutError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


# -- arithmetic ----------------------------------------------------------------------
def spread(values: Sequence[float]) -> str:
    """min-max and coefficient of variation of repeated figures."""
    if len(values) < 2:
        return "1 run"
    cv = statistics.stdev(values) / statistics.mean(values) * 100
    return f"{min(values):,.0f}-{max(values):,.0f} (CV {cv:.0f}%)"


def ratio(ours: Sequence[float], theirs: Sequence[float]) -> tuple[float, float, float]:
    """Median, min and max of the per-repeat ratios ours[i] / theirs[i]."""
    pairs = [o / t for o, t in zip(ours, theirs, strict=False) if t > 0]
    if not pairs:
        return (0.0, 0.0, 0.0)
    return (statistics.median(pairs), min(pairs), max(pairs))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}" if seconds >= 0.01 else f"{seconds * 1000:.1f}"


def latencies(values: Sequence[float]) -> str:
    return " / ".join(ms(quantile(values, q)) for q in (0.5, 0.95, 0.99))


def shown_ratio(r: tuple[float, float, float]) -> str:
    median, low, high = r
    return f"**{median:.2f}x** ({low:.2f}-{high:.2f})" if low != high else f"**{median:.2f}x**"


# -- the table -----------------------------------------------------------------------
def render(results: Results) -> str:
    raw = [r.rate for r in results.pingpong.get(RAW, [])]
    lines = [
        "# sagabus benchmark results",
        "",
        "Written by `make bench` (`python -m bench`). Every figure below comes from one run",
        "of that command, on one RabbitMQ, with the same durability everywhere: durable",
        "queues, persistent messages, publisher confirms, acks after the work; sagabus adds",
        "its inbox, outbox and saga state, committed to SQLite (WAL, `synchronous=FULL`) or",
        "PostgreSQL before anything is acknowledged.",
        "",
        "How to read it: (1)-(3) are the same ping-pong (K conversations x S steps of",
        "command -> handler -> event -> orchestrator -> next command); a step is one command",
        "and its event, its latency the time from deciding to send the command to handling",
        "the event. In (4) and (5) a step is a command and its reply (CreateOrder ->",
        "OrderCreated, ProcessPayment -> PaymentSucceeded, ... the final CompleteOrder or",
        "CancelOrder -> its event), counted from each instance's history, and the latency",
        "runs from the saga instance's creation (OrderCreated handled) to its final state.",
        "(1)-(4) ran `repeats` times, interleaved; a ratio is taken between runs made back to",
        "back, and shown as the median (min-max) of those per-repeat ratios. The machine is",
        "shared (see the load averages): expect single figures to move by 20-40%.",
        "Every row ran in this one process on one event loop, the baselines (1) and (2)",
        "included: the loop named under Settings (uvloop when installed).",
        "",
        "| # | what | steps/s (median) | spread over repeats | sagas/s "
        "| latency p50 / p95 / p99 ms | ratio per step |",
        "|---|---|---:|---|---:|---|---|",
    ]
    for label, runs in results.pingpong.items():
        rates = [r.rate for r in runs]
        pooled = [x for r in runs for x in r.latencies]
        note = ""
        if label == SAGABUS:
            note = f"vs (1) {shown_ratio(ratio(rates, raw))}"
            faststream = [r.rate for r in results.pingpong.get(FASTSTREAM, [])]
            if faststream:
                note += f"; vs (2) {shown_ratio(ratio(rates, faststream))}"
        elif label != RAW and raw:
            note = f"vs (1) {shown_ratio(ratio(rates, raw))}"
        lines.append(
            f"| {label.split(' ', 1)[0]} | {label.split(' ', 1)[1]} (step = command + event) "
            f"| {statistics.median(rates):,.0f} | {spread(rates)} | | {latencies(pooled)} "
            f"(one step) | {note} |"
        )
    for label, order_runs in results.orders.items():
        steps = [r.steps_per_second for r in order_runs]
        pooled = [x for r in order_runs for x in r.latencies]
        note = f"vs (1) {shown_ratio(ratio(steps, raw))}" if raw else ""
        lines.append(
            f"| {label.split(' ', 1)[0]} | {label.split(' ', 1)[1]} "
            f"({order_runs[0].sagas} sagas, {results.in_flight} in flight) "
            f"| {statistics.median(steps):,.0f} | {spread(steps)} "
            f"| {statistics.median(r.sagas_per_second for r in order_runs):,.1f} "
            f"| {latencies(pooled)} (OrderCreated -> final) | {note} |"
        )
    hundred = next((r for r in results.levels if r.label.startswith("100 ")), None)
    for level in results.levels:
        note = ""
        if hundred is not None and level is not hundred:
            note = f"{level.sagas_per_second / hundred.sagas_per_second:.2f}x of 100 in flight"
        lines.append(
            f"| (5) | order saga, {level.label} ({level.sagas:,} sagas) "
            f"| {level.steps_per_second:,.0f} | 1 run | {level.sagas_per_second:,.1f} "
            f"| {latencies(level.latencies)} (OrderCreated -> final) | {note} |"
        )
    for w in results.windows:
        lines.append(
            f"| (5) | order saga, {w.in_flight:,} in flight, steps counted in a "
            f"{w.seconds:.0f} s window (filled in {w.ramp_seconds:.0f} s) "
            f"| {w.steps_per_second:,.0f} | 1 run | | | |"
        )
    parked = results.parked
    if parked is not None:
        lines += _parked_rows(parked)
    lines += ["", *_goals(results), "", *gaps(results), "", *_stages(results)]
    if results.waits:
        lines += ["", *_waits(results)]
    lines += ["", *_settings(results), "", *_machine(results)]
    if results.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in results.notes]]
    return "\n".join(lines) + "\n"


def _parked_rows(parked: ParkedResult) -> list[str]:
    where = f"{parked.instances:,} waiting instances, {parked.history_rows:,} history rows"
    rows = [
        f"| (5) | `sagabus status ID` by instance id, {where} | | | | "
        f"{ms(statistics.median(parked.status_by_id))} (median of "
        f"{len(parked.status_by_id)}, max {ms(max(parked.status_by_id))}) | |",
        f"| (5) | `sagabus status ORDER_ID` by correlation, same store | | | | "
        f"{ms(statistics.median(parked.status_by_order))} (median, max "
        f"{ms(max(parked.status_by_order))}) | |",
        f"| (5) | `sagabus status ID` as a process (Python start-up and imports included) "
        f"| | | | {ms(statistics.median(parked.status_cli))} (median of "
        f"{len(parked.status_cli)}; `python -c pass` in turn with it: "
        f"{ms(statistics.median(parked.python_start))}) | |",
    ]
    if parked.daemon_run is not None:
        run = parked.daemon_run
        rows.append(
            f"| (5) | daemon process, {where}: RSS {parked.rss_started_mb:.0f} MB started, "
            f"{parked.rss_after_mb:.0f} MB after {DAEMON_ORDERS} more orders "
            f"(peak {parked.rss_peak_mb:.0f} MB) | {run.steps_per_second:,.0f} | 1 run "
            f"| {run.sagas_per_second:,.1f} | {latencies(run.latencies)} | |"
        )
    return rows


def _goals(results: Results) -> list[str]:
    raw = [r.rate for r in results.pingpong.get(RAW, [])]
    ours = [r.rate for r in results.pingpong.get(SAGABUS, [])]
    faststream = [r.rate for r in results.pingpong.get(FASTSTREAM, [])]
    lines = [
        "## Goals (issues 7 and 16)",
        "",
        "| goal | measured | met |",
        "|---|---|---|",
    ]

    def row(goal: str, measured: str, met: bool | None) -> None:
        verdict = "n/a" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {goal} | {measured} | {verdict} |")

    if raw and ours:
        r = ratio(ours, raw)
        row("(3)/(1) sagabus services vs raw aio-pika >= 1.0x", shown_ratio(r), r[0] >= 1.0)
    if faststream and ours:
        r = ratio(ours, faststream)
        row("(3)/(2) sagabus services vs FastStream >= 1.5x", shown_ratio(r), r[0] >= 1.5)
    for label, _, store, goal in STORES:
        steps = [r.steps_per_second for r in results.orders.get(label, [])]
        if raw and steps:
            r = ratio(steps, raw)
            row(f"(4)/(1) order saga steps/s on {store} vs raw aio-pika >= {goal}x",
                shown_ratio(r), r[0] >= goal)
    for label, _, store, _ in STORES:
        pooled = [x for r in results.orders.get(label, []) for x in r.latencies]
        if pooled:
            p99 = quantile(pooled, 0.99)
            at = results.in_flight
            row(f"(4) p99 OrderCreated -> final state at {at} in flight <= 300 ms ({store})"
                + ("" if at == 100 else " (goal is at 100: `-k 100`)"),
                f"{ms(p99)} ms (p50 {ms(quantile(pooled, 0.5))} ms)",
                p99 <= 0.300 if at == 100 else None)
    for figure in results.stages:
        row(f"statements per order saga <= 25 ({figure.kind})",
            f"{figure.statements_per_saga:.1f}", figure.statements_per_saga <= 25)
    _scale_goals(results, row)
    if results.scaleout is not None and results.scaleout.ratio(2):
        out = results.scaleout
        row("scale-out: 2 daemons on one PostgreSQL vs 1, same run (a figure to report; "
            "why: below)",
            f"{shown_ratio(_range(out.ratio(2)))} ({out.median_rate(1):.1f} -> "
            f"{out.median_rate(2):.1f} sagas/s)", None)
    return lines


def _range(values: Sequence[float]) -> tuple[float, float, float]:
    return (statistics.median(values), min(values), max(values))


def _scale_goals(results: Results, row: Callable[[str, str, bool | None], None]) -> None:
    """Issue 16's scale goals: in flight, waiting instances, `status`, the CLI."""
    windows = {w.in_flight: w for w in results.windows}
    by_level = {int(r.label.split(" ")[0].replace(",", "")): r for r in results.levels}
    largest = max((level for level in by_level if level > 100), default=None)
    if 100 in windows and HUGE in windows:
        share = windows[HUGE].steps_per_second / windows[100].steps_per_second
        row(f"throughput at {HUGE:,} in flight within 20% of 100 (steps/s in a window, "
            "`bench.window`)", f"{share:.2f}x", share >= 0.8)
    elif 100 in by_level and largest is not None:
        share = by_level[largest].sagas_per_second / by_level[100].sagas_per_second
        shown = "" if largest == HUGE else f" (not run: `--huge`; {largest:,} vs 100 shown)"
        row(f"throughput at {HUGE:,} in flight within 20% of 100{shown}", f"{share:.2f}x",
            share >= 0.8 if largest == HUGE else None)
    parked = results.parked
    if parked is None:
        return
    row(f"{parked.instances:,} waiting instances: daemon RSS < 300 MB",
        f"{parked.rss_peak_mb:.0f} MB peak", parked.rss_peak_mb < 300)
    slowest = max(statistics.median(parked.status_by_id),
                  statistics.median(parked.status_by_order))
    row(f"`status` < 5 ms with {parked.history_rows:,} history rows "
        "(the command's work, by id and by correlation; the process adds Python start-up)",
        f"{ms(slowest)} ms", slowest < 0.005)
    cli = statistics.median(parked.status_cli)
    row("`sagabus status ID` as a process < 250 ms",
        f"{ms(cli)} ms (`python -c pass`: {ms(statistics.median(parked.python_start))} ms)",
        cli < 0.250)


def _stages(results: Results) -> list[str]:
    if not results.stages:
        return []
    return [
        "## Statements per saga and CPU per stage (`python -m bench.stages`)",
        "",
        "Independent of the machine's load: driver calls (each one statement; on SQLite",
        "only begin, commit and rollback hop to the connection's thread) per order saga,",
        "and CPU per delivery in each stage",
        "(cProfile with `thread_time` for the shares, an unprofiled run for the total).",
        "",
        *table(results.stages),
        "",
        *detail(results.stages),
    ]


def _waits(results: Results) -> list[str]:
    return [
        "## Where the wall time goes, by endpoint and phase (`python -m bench.waits`)",
        "",
        "One run of the order saga per store with every endpoint's batches timed (the",
        "pipeline's methods wrapped in this process). Per endpoint: its batches, the",
        "deliveries per batch, and the mean ms per batch in each phase: idle (waiting for",
        "deliveries), queued (per delivery: arrival to the start of its batch), lock + BEGIN",
        "(on SQLite also the wait for the other endpoints' transactions on the store's one",
        "connection), handling (steps 1-3), COMMIT, settling wait (for the previous batch's",
        "publish and ack), publish + confirms, ack. Crossing: "
        + " + ".join(CROSSING) + ",",
        "a delivery's time at the endpoint up to its messages' confirms. Busy: the share of",
        "the run the endpoint spent in its batches' work (lock + BEGIN, handling, COMMIT);",
        "it takes one batch at a time, so an endpoint near 1.00 is the chain's bottleneck.",
        "",
        *wait_table(results.waits),
        "",
        *[chain(f) for f in results.waits],
    ]


def _settings(results: Results) -> list[str]:
    return ["## Settings", "", *[f"- {k}: `{v}`" for k, v in results.settings.items()]]


def _machine(results: Results) -> list[str]:
    lines = ["## Machine and versions", ""]
    lines += [f"- {k}: {v}" for k, v in results.machine.items()]
    lines.append("- " + ", ".join(f"{k} {v}" for k, v in results.versions.items()))
    return lines


def write(results: Results, path: Path) -> str:
    text = render(results)
    path.write_text(text)
    return text
