"""`sagabus resume|retry|goto|cancel ID`: operator actions on one saga instance, and
`sagabus migrate SAGA --from A --to B`: running instances moved to another version.

Each is one transaction on the store (safe with daemons running); what the action sends
goes to the outbox, where a running daemon's relay publishes it. The reason is written
to the instance's history (`sagabus status ID` shows it).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bus.errors import SagabusError
from bus.observability.logging import configure_logging
from bus.store import namespace_url, open_store
from bus.wire.contracts import registry
from saga_dsl import Machine
from saga_dsl.engine.migration import migrate as migrate_instances
from saga_dsl.engine.migration import plan_migration
from saga_dsl.engine.operations import Action, Operations, Outcome
from saga_dsl.engine.versions import load_machines
from sagabus.cli.app import app
from sagabus.project import existing_store, import_contracts, open_project

Instance = Annotated[str, typer.Argument(help="Instance id, or its correlation value.")]
StoreUrl = Annotated[str | None, typer.Option("--store", help="Store URL [SAGABUS_STORE].")]


Reason = Annotated[str, typer.Option("--reason", help="Why, for the instance's history.")]


@app.command()
def resume(
    instance: Instance,
    reason: Reason = "resumed by an operator",
    store: StoreUrl = None,
) -> None:
    """Run a parked instance again: it retries what parked it."""
    _run(instance, "resume", reason, store)


@app.command()
def retry(
    instance: Instance,
    reason: Reason = "resent by an operator",
    store: StoreUrl = None,
) -> None:
    """Send the current state's commands again (or the compensation being awaited)."""
    _run(instance, "retry", reason, store)


@app.command()
def goto(
    instance: Instance,
    state: Annotated[str, typer.Argument(help="The state to move the instance to.")],
    reason: Reason,
    store: StoreUrl = None,
) -> None:
    """Move an instance into STATE by force (checked against its definition)."""
    _run(instance, "goto", reason, store, state)


@app.command()
def cancel(
    instance: Instance,
    reason: Reason,
    store: StoreUrl = None,
) -> None:
    """Compensate now, like a cancel request, then end in the saga's failure state."""
    _run(instance, "cancel", reason, store)


def _run(key: str, action: Action, reason: str, store: str | None,
         state: str | None = None) -> None:
    configure_logging("console", "error")  # the one line of outcome is the answer
    project = open_project(store=store)
    config = project.config
    url = existing_store(namespace_url(config.store, config.namespace))
    import_contracts(config.services)
    machines = load_machines(config.sagas, contracts=registry) if config.sagas else []
    outcome = asyncio.run(_apply(url, machines, key, action, reason, state))
    typer.echo(f"{outcome.instance_id}: {outcome.note}")


async def _apply(url: str, machines: list[Machine], key: str, action: Action, reason: str,
                 state: str | None) -> Outcome:
    async with open_store(url) as store:
        return await Operations(store, machines).apply(key, action, reason, state=state)


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
) -> None:
    """Move the running instances of SAGA from one version to another, checked first."""
    configure_logging("console", "error")
    renames = dict(_pair(item) for item in mapping or [])
    project = open_project(store=store)
    config = project.config
    url = existing_store(namespace_url(config.store, config.namespace))
    import_contracts(config.services)
    machines = load_machines(config.sagas, contracts=registry) if config.sagas else []
    by_version = {m.version: m for m in machines if m.name == saga}
    for version in (from_version, to_version):
        if version not in by_version:
            raise MigrationRefused(f"saga {saga!r} version {version} is not among the saga files")
    lines = asyncio.run(_migrate(url, by_version[from_version], by_version[to_version],
                                 renames, dry_run))
    typer.echo("\n".join(lines))


def _pair(item: str) -> tuple[str, str]:
    old, sep, new = item.partition("=")
    if not sep or not old or not new:
        raise MigrationRefused(f"--map takes OLD=NEW, not {item!r}")
    return old, new


async def _migrate(url: str, source: Machine, target: Machine, renames: dict[str, str],
                   dry_run: bool) -> list[str]:
    async with open_store(url) as store:
        plan = await plan_migration(store, source, target, renames)
        if plan.problems:
            raise MigrationRefused("\n".join(["nothing moved:", *plan.lines()]))
        if dry_run:
            return [*plan.lines(), "dry run: nothing moved"]
        moved = await migrate_instances(store, plan, target, renames)
    return [*plan.lines(), f"moved {moved} instance(s)"]
