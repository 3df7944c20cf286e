"""`sagabus resume|retry|goto|cancel ID`: operator actions on one saga instance, or on
every instance a filter selects (`--where status=parked --where saga=order_processing`,
`--dry-run` to count them first); and `sagabus migrate SAGA --from A --to B`: running
instances moved to another version (`--where state=... / correlation=...` for some).

Each instance is one transaction on the store (safe with daemons running); what the
action sends goes to the outbox, where a running daemon's relay publishes it. The reason
is written to the instance's history (`sagabus status ID` shows it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

import typer

from bus.errors import SagabusError
from bus.observability.logging import configure_logging
from bus.store import open_store
from bus.store.browse import SagaFilter
from bus.store.filters import BadFilter, where_items
from bus.wire.contracts import registry
from saga_dsl import Machine
from saga_dsl.engine.migration import migrate as migrate_instances
from saga_dsl.engine.migration import plan_migration
from saga_dsl.engine.operations import Action, Operations, Outcome
from saga_dsl.engine.selection import (
    SelectionRefused,
    apply_to_selection,
    described,
    selection_size,
)
from saga_dsl.engine.versions import load_machines
from sagabus.cli.app import app
from sagabus.cli.options import StoreUrl
from sagabus.imports import import_contracts
from sagabus.project import open_project, project_store

Instance = Annotated[str | None, typer.Argument(
    help="Instance id, or its correlation value (or --where instead).")]
Where = Annotated[list[str] | None, typer.Option(
    "--where", help="KEY=VALUE (saga, version, state, status, correlation; repeatable): "
                    "act on every instance it selects, instead of INSTANCE.")]
DryRun = Annotated[bool, typer.Option(
    "--dry-run", help="With --where: count what it selects, change nothing.")]


Reason = Annotated[str, typer.Option("--reason", help="Why, for the instance's history.")]


@app.command()
def resume(
    instance: Instance = None,
    *,
    reason: Reason = "resumed by an operator",
    store: StoreUrl = None,
    where: Where = None,
    dry_run: DryRun = False,
) -> None:
    """Run a parked instance again: it retries what parked it."""
    _run(Target(instance, where, dry_run), "resume", reason, store)


@app.command()
def retry(
    instance: Instance = None,
    *,
    reason: Reason = "resent by an operator",
    store: StoreUrl = None,
    where: Where = None,
    dry_run: DryRun = False,
) -> None:
    """Send the current state's commands again (or the compensation being awaited)."""
    _run(Target(instance, where, dry_run), "retry", reason, store)


@app.command()
def goto(
    instance: Instance = None,
    state: Annotated[str | None, typer.Argument(
        help="The state to move the instance to (with --where: the only argument).")] = None,
    *,
    reason: Reason,
    store: StoreUrl = None,
    where: Where = None,
    dry_run: DryRun = False,
) -> None:
    """Move an instance into STATE by force (checked against its definition):
    `goto ID STATE`, or `goto STATE --where ...`."""
    if where and state is None:
        instance, state = None, instance
    if state is None:
        raise SagabusError(
            "goto needs the state to move to: goto ID STATE, or goto STATE --where ...")
    _run(Target(instance, where, dry_run), "goto", reason, store, state)


@app.command()
def cancel(
    instance: Instance = None,
    *,
    reason: Reason,
    store: StoreUrl = None,
    where: Where = None,
    dry_run: DryRun = False,
) -> None:
    """Compensate now, like a cancel request, then end in the saga's failure state."""
    _run(Target(instance, where, dry_run), "cancel", reason, store)


@dataclass(frozen=True)
class Target:
    """What an action is for: one `instance` (id or correlation), or the instances the
    `where` items select (`dry_run`: only count them)."""

    instance: str | None
    where: list[str] | None
    dry_run: bool

    def selection(self) -> SagaFilter | None:
        """The filter of `--where`, or None for one instance; refuses both or neither."""
        if self.instance is not None and self.where:
            raise SagabusError("give an instance or --where, not both")
        if self.instance is None and not self.where:
            raise SagabusError("name an instance (id or correlation value), or select with --where")
        if self.dry_run and not self.where:
            raise SagabusError("--dry-run goes with --where")
        if not self.where:
            return None
        try:
            return where_items(self.where)
        except BadFilter as exc:
            raise SagabusError(str(exc)) from None


def _run(target: Target, action: Action, reason: str, store: str | None,
         state: str | None = None) -> None:
    configure_logging("console", "error")  # the one line of outcome is the answer
    selection = target.selection()
    url, machines = _store_and_machines(store)
    if selection is None:
        assert target.instance is not None
        outcome = asyncio.run(_apply(url, machines, target.instance, action, reason, state))
        typer.echo(f"{outcome.instance_id}: {outcome.note}")
        return
    lines = asyncio.run(_apply_to_selection(url, machines, selection, action, reason, state,
                                            dry_run=target.dry_run))
    typer.echo("\n".join(lines))


def _store_and_machines(store: str | None) -> tuple[str, list[Machine]]:
    """The project's store (which must exist) and the machines of its saga files, their
    contracts imported first: what every command of this module acts with."""
    project = open_project(store=store)
    url = project_store(project)
    config = project.config
    import_contracts(config.services)
    machines = load_machines(config.sagas, contracts=registry) if config.sagas else []
    return url, machines


async def _apply(url: str, machines: list[Machine], key: str, action: Action, reason: str,
                 state: str | None) -> Outcome:
    async with open_store(url) as store:
        return await Operations(store, machines).apply(key, action, reason, state=state)


async def _apply_to_selection(url: str, machines: list[Machine], where: SagaFilter,
                              action: Action, reason: str, state: str | None, *,
                              dry_run: bool) -> list[str]:
    async with open_store(url) as store:
        try:
            if dry_run:
                count = await selection_size(store, where)
                return [f"{action} would apply to {count} instance(s) where "
                        f"{described(where)}; dry run: nothing changed"]
            outcome = await apply_to_selection(Operations(store, machines), where, action,
                                               reason, state=state)
        except SelectionRefused as exc:
            raise SagabusError(str(exc)) from None
    return outcome.lines()


class MigrationRefused(SagabusError):
    """A migration whose plan has problems, or between versions not loaded."""


@app.command()
def migrate(
    saga: Annotated[str, typer.Argument(help="The saga whose instances move.")],
    from_version: Annotated[int, typer.Option("--from", help="The version they run on.")],
    to_version: Annotated[int, typer.Option("--to", help="The version they move to.")],
    mapping: Annotated[list[str] | None, typer.Option(
        "--map", help="OLD=NEW: a state renamed in the new version (repeatable).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan only.")] = False,
    store: StoreUrl = None,
    where: Annotated[list[str] | None, typer.Option(
        "--where", help="state=S or correlation=C (repeatable): move only these.")] = None,
) -> None:
    """Move the running instances of SAGA from one version to another, checked first."""
    configure_logging("console", "error")
    renames = dict(_pair(item) for item in mapping or [])
    only = _migration_filter(where or [])
    url, machines = _store_and_machines(store)
    by_version = {m.version: m for m in machines if m.name == saga}
    for version in (from_version, to_version):
        if version not in by_version:
            raise MigrationRefused(f"saga {saga!r} version {version} is not among the saga files")
    lines = asyncio.run(_migrate(url, by_version[from_version], by_version[to_version],
                                 renames, dry_run, only))
    typer.echo("\n".join(lines))


def _migration_filter(items: list[str]) -> SagaFilter:
    """`--where` of migrate: only state and correlation (the saga, its version and the
    running status are the command's own)."""
    try:
        only = where_items(items)
    except BadFilter as exc:
        raise MigrationRefused(str(exc)) from None
    if only.saga is not None or only.version is not None or only.status is not None:
        raise MigrationRefused(
            "migrate --where takes state and correlation: SAGA, --from and running are given")
    return only


def _pair(item: str) -> tuple[str, str]:
    old, sep, new = item.partition("=")
    if not sep or not old or not new:
        raise MigrationRefused(f"--map takes OLD=NEW, not {item!r}")
    return old, new


async def _migrate(url: str, source: Machine, target: Machine, renames: dict[str, str],
                   dry_run: bool, only: SagaFilter) -> list[str]:
    async with open_store(url) as store:
        plan = await plan_migration(store, source, target, renames, only=only)
        if plan.problems:
            raise MigrationRefused("\n".join(["nothing moved:", *plan.lines()]))
        if dry_run:
            return [*plan.lines(), "dry run: nothing moved"]
        moved = await migrate_instances(store, plan, target, renames)
    return [*plan.lines(), f"moved {moved} instance(s)"]
