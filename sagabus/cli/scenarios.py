"""`sagabus test` and `sagabus coverage`: scenario files run on the pure state machine.

`test` prints one line per scenario (PASS/FAIL with its file:line), then for each failure
the step, the expectation's file:line:col, expected and actual; it exits 1 when a
scenario fails or a scenario file has an error. `coverage` lists every path of one saga
and the scenarios that took it; `--missing` prints skeleton scenarios for the paths no
scenario takes, and `--fail-under N` exits 1 below N percent.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from saga_dsl.scenarios import Catalog, describe, explain, load_all, run_all, scenario_files
from saga_dsl.scenarios.catalog import SagaNotFound
from saga_dsl.scenarios.coverage_report import coverage
from saga_dsl.scenarios.session import Session, results_of
from saga_dsl.scenarios.skeletons import skeletons
from sagabus.cli.app import app
from sagabus.project import open_project

EXIT_FAILED = 1
"""Exit code when a scenario fails, a file has an error, or coverage is too low."""


@app.command("test")
def test_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Scenario files, or directories searched for them (default: the project's "
            "sagas, else ./sagas)."
        ),
    ] = None,
) -> None:
    """Run saga scenarios on the pure state machine: no broker, no store."""
    files = scenario_files(paths or [open_project().config.sagas or Path("sagas")])
    if not files:
        typer.echo("sagabus: error: no scenario files (YAML with `scenarios:`) found", err=True)
        raise typer.Exit(EXIT_FAILED)
    started = time.perf_counter()
    session = run_all(load_all(files))
    elapsed = time.perf_counter() - started
    for diagnostic in session.diagnostics:
        typer.echo(str(diagnostic))
    for result in session.results:
        typer.echo(describe(result))
        if result.failure is not None:
            for line in explain(result.failure, result.case.file):
                typer.echo(f"  {line}")
    _summary(session, elapsed)
    if not session.ok:
        raise typer.Exit(EXIT_FAILED)


def _summary(session: Session, elapsed: float) -> None:
    failed = len(session.failed)
    errors = sum(d.is_error for d in session.diagnostics)
    typer.echo(
        f"{len(session.results)} scenario(s), {session.steps} step(s): "
        f"{len(session.results) - failed} passed, {failed} failed, "
        f"{errors} file error(s) in {elapsed * 1000:.0f} ms"
    )
    for name, suite in {s.machine.name: s for s in session.suites}.items():
        typer.echo(coverage(suite.machine, suite.saga_file, results_of(session, name)).summary())


@app.command("coverage")
def coverage_command(
    saga: Annotated[Path, typer.Argument(help="A saga file.")],
    scenarios: Annotated[
        Path | None,
        typer.Option(help="Directory of scenario files (default: tests/ beside the saga)."),
    ] = None,
    missing: Annotated[
        bool, typer.Option("--missing", help="Print skeleton scenarios for uncovered paths.")
    ] = False,
    fail_under: Annotated[
        float, typer.Option(help="Exit 1 when fewer than this percent of paths are covered.")
    ] = 0.0,
) -> None:
    """List every path of a saga and which scenarios take it."""
    catalog = Catalog()
    try:
        found = catalog.find(saga.name, saga)
    except SagaNotFound as exc:
        typer.echo(f"sagabus: error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    if scenarios is not None and not scenarios.is_dir():
        typer.echo(f"sagabus: error: --scenarios {scenarios}: not a directory", err=True)
        raise typer.Exit(EXIT_FAILED)
    folder = scenarios or saga.parent / "tests"
    session = run_all(load_all(scenario_files([folder]) if folder.is_dir() else [], catalog))
    for diagnostic in session.diagnostics:
        typer.echo(str(diagnostic), err=True)
    report = coverage(found.machine, found.file, results_of(session, found.machine.name))
    for line in report.lines():
        typer.echo(line)
    typer.echo(report.summary())
    if missing and report.missing:
        typer.echo("")
        typer.echo(skeletons(found.machine, report.missing), nl=False)
    if report.percent < fail_under or any(d.is_error for d in session.diagnostics):
        raise typer.Exit(EXIT_FAILED)
