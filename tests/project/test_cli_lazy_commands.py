"""`sagabus COMMAND` imports only the module of COMMAND (and what its body needs):
`status` reads the store without loading the transport, the PostgreSQL driver, the
console's web stack, metrics or the CEL compiler; `--help` still lists every command."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
import typer.main
from project_support import REPO, user_env

import sagabus.cli.app as cli_app
from bus.store import SagaRecord, open_store

HEAVY = frozenset({
    "aio_pika", "aiormq", "pamqp", "asyncpg", "starlette", "uvicorn", "jinja2", "cel",
    "celpy", "prometheus_client", "opentelemetry", "saga_dsl",
})
"""Top-level packages `sagabus status` has no use for."""

STATUS_SPARES = HEAVY | {
    "handlers", "bus.eventsourcing", "bus.wire.contracts", "structlog", "rich",
    "pydantic", "pydantic_settings", "bus.settings",
}
"""What `sagabus status --json` leaves out besides: the project's services (the store
knows the stream categories a saga links to), the message contracts, logging, rich,
and pydantic (the configuration is read without it, and typer below 0.29 coerces
parameters without it)."""

LOADED = """
import json, sys
heavy = set(json.loads(sys.argv.pop(1)))
from sagabus.cli import main
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code
loaded = sorted(heavy & set(sys.modules))
print(json.dumps({"exit": code, "heavy": loaded}), file=sys.stderr)
"""
"""Runs `sagabus ARGS` in this process and reports which of the heavy modules it loaded."""


async def run_and_list(
    *args: str, cwd: Path, heavy: frozenset[str] = HEAVY
) -> tuple[int, str, list[str]]:
    """(exit code, stdout, modules of `heavy` loaded) of `sagabus ARGS` in a fresh process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOADED, json.dumps(sorted(heavy)), *args, cwd=cwd,
        env=user_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    report = json.loads(err.decode().strip().splitlines()[-1])
    return report["exit"], out.decode(), report["heavy"]


async def test_status_by_correlation_loads_no_transport_driver_web_or_cel(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    async with open_store(url) as store, store.transaction() as tx:
        await tx.saga_insert(SagaRecord(
            id="inst-1", saga="order_processing", definition_version=1,
            correlation="o-1", state="manual_review",
        ))
    # in the repository, whose project has services: they are not imported
    code, out, heavy = await run_and_list(
        "status", "o-1", "--store", url, "--json", cwd=REPO, heavy=STATUS_SPARES
    )
    assert code == 0, out
    assert json.loads(out)["instance"]["id"] == "inst-1"
    assert heavy == []
    # the check sees a command that does load them
    code, _, heavy = await run_and_list("run", "--help", cwd=REPO)
    assert code == 0
    assert {"aio_pika", "saga_dsl"} <= set(heavy)


def test_every_command_is_found_in_the_module_the_table_names() -> None:
    cli_app._load_commands()
    registered: dict[str, str] = {}
    for command in cli_app.app.registered_commands:
        assert command.callback is not None
        name = command.name or typer.main.get_command_name(command.callback.__name__)
        registered[name] = command.callback.__module__
    for group in cli_app.app.registered_groups:
        assert group.name is not None and group.typer_instance is not None
        [first, *_] = group.typer_instance.registered_commands
        assert first.callback is not None
        registered[group.name] = first.callback.__module__
    assert registered == cli_app.COMMANDS
    assert set(typer.main.get_command(cli_app.app).commands) == set(cli_app.COMMANDS)  # type: ignore[attr-defined]


def test_loading_one_command_registers_it_and_a_stranger_loads_all() -> None:
    before = set(sys.modules)
    cli_app._load_commands(["status", "x"])
    assert "sagabus.cli.instances" in sys.modules
    cli_app._load_commands(["no-such-command"])
    assert set(cli_app.COMMAND_MODULES) <= set(sys.modules)
    assert before <= set(sys.modules)


async def test_help_lists_every_command_with_its_help(tmp_path: Path) -> None:
    cli_app._load_commands()
    group = typer.main.get_command(cli_app.app)
    code, out, _ = await run_and_list("--help", cwd=tmp_path)
    assert code == 0
    listed = {line.split()[1] for line in out.splitlines() if line.startswith("│ ")
              and len(line.split()) > 2}
    assert set(cli_app.COMMANDS) <= listed, out
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        words = command.get_short_help_str(limit=40).split()[:3]
        assert " ".join(words) in out, (name, out)


def test_the_lazy_packages_export_every_name_from_its_module() -> None:
    import importlib

    import bus
    import bus.eventsourcing

    for package in (bus, bus.eventsourcing):
        homes = package._HOMES  # type: ignore[attr-defined]
        assert sorted(package.__all__) == sorted(homes)
        for name, home in homes.items():
            assert getattr(package, name) is getattr(importlib.import_module(home), name)
        assert set(homes) <= set(dir(package))
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        bus.Nope  # type: ignore[attr-defined]  # noqa: B018


async def test_importing_the_handlers_api_loads_no_transport(tmp_path: Path) -> None:
    code = (
        "import sys; from bus import Service, Command, Event, HandlerContext;"
        " from bus.eventsourcing import Aggregate;"
        f" print(sorted({{m.partition('.')[0] for m in sys.modules}} & set({sorted(HEAVY)!r})))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=tmp_path, env=user_env(),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    assert out.decode().strip() == "[]"
