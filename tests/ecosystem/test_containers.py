"""The container files, checked as far as a machine without Docker can: the compose file
parses and names what it should, every sagabus command it runs parses against the CLI,
the Dockerfile installs what `make install` installs, and the daemon command line the
image runs becomes ready (its healthcheck passes) on the real RabbitMQ."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from support.broker import TestBroker as Broker
from support.buses import BusFactory
from support.daemons import daemon_running

from bus.settings import Settings
from sagabus.cli.app import _load_commands, app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def dockerfile_instructions(name: str) -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines()
            if line.split(None, 1)[:1] == [name]]


def parses(args: list[str]) -> None:
    """Parses `sagabus ARGS` the way the console script would, without running it."""
    _load_commands()
    group: Any = typer.main.get_command(app)
    with group.make_context("sagabus", [args[0]]) as context:
        command = group.get_command(context, args[0])
        assert command is not None, f"no sagabus command {args[0]!r}"
        command.make_context(args[0], list(args[1:]), parent=context)


def test_compose_runs_rabbitmq_4_with_management_and_prometheus_ports() -> None:
    rabbitmq = compose()["services"]["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:4\.\d+-management", rabbitmq["image"])
    published = {p.split(":")[-1] for p in rabbitmq["ports"]}
    assert {"5672", "15672", "15692"} <= published


def test_the_daemon_is_built_from_the_dockerfile_and_checked_on_readyz() -> None:
    sagabus = compose()["services"]["sagabus"]
    assert sagabus["build"] == "."
    command = sagabus["command"]
    port = command[command.index("--metrics-port") + 1]
    assert f"{port}:{port}" in sagabus["ports"]
    probe = " ".join(sagabus["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in probe
    assert {d: c["condition"] for d, c in sagabus["depends_on"].items()} == {
        "rabbitmq": "service_healthy", "postgres": "service_healthy",
    }
    assert "pip install" not in COMPOSE.read_text()


def test_every_sagabus_command_of_compose_parses() -> None:
    parses(compose()["services"]["sagabus"]["command"])
    examples = re.findall(r"^#   docker compose run --rm sagabus (.+)$", COMPOSE.read_text(), re.M)
    assert len(examples) >= 2
    for example in examples:
        parses(shlex.split(example))


def test_a_misspelt_option_does_not_parse() -> None:
    with pytest.raises(Exception, match="No such option"):
        parses(["run", "--metric-port", "9464"])


def test_the_image_runs_the_console_script_and_the_compose_command() -> None:
    [entrypoint] = dockerfile_instructions("ENTRYPOINT")
    assert yaml.safe_load(entrypoint) == ["sagabus"]
    assert "sagabus" in PYPROJECT["project"]["scripts"]
    [cmd] = dockerfile_instructions("CMD")
    assert yaml.safe_load(cmd) == compose()["services"]["sagabus"]["command"]
    [user] = dockerfile_instructions("USER")
    assert user.strip() != "root"


def test_the_image_installs_what_make_install_installs() -> None:
    """`make install` installs `.[dev]`, whose runtime part is `sagabus[...]`: the image
    builds and installs exactly those extras, from a wheel of the same packages."""
    runs = " ".join(dockerfile_instructions("RUN"))
    [built] = re.findall(r"pip wheel .*\"\.\[([\w,]+)\]\"", runs)
    [installed] = re.findall(r"pip install .*\"sagabus\[([\w,]+)\]\"", runs)
    dev = PYPROJECT["project"]["optional-dependencies"]["dev"]
    [runtime] = [re.findall(r"sagabus\[([\w,]+)\]", d)[0] for d in dev if d.startswith("sagabus[")]
    assert set(built.split(",")) == set(installed.split(",")) == set(runtime.split(","))
    assert "pip install --quiet -e '.[dev]'" in (ROOT / "Makefile").read_text()
    copied = {c.split()[0] for c in dockerfile_instructions("COPY") if "--from" not in c}
    packages = {p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"][
        "include"]}
    assert packages | {"pyproject.toml", PYPROJECT["project"]["readme"]} <= copied | {
        "pyproject.toml", "README.md"}
    assert packages <= copied
    [version] = re.findall(r"ARG PYTHON_VERSION=(\d+\.\d+)", DOCKERFILE.read_text())
    floor = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert tuple(map(int, version.split("."))) >= tuple(map(int, floor.split(".")))


def test_dockerignore_keeps_the_build_context_small_but_complete() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "tests"} <= ignored
    needed = {"bus", "saga_dsl", "sagabus", "handlers", "sagas", "pyproject.toml", "README.md"}
    assert not needed & ignored


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.integration
async def test_the_image_s_daemon_command_becomes_ready_on_rabbitmq(
    broker: Broker, tmp_path: Path, eventually
) -> None:
    """The compose command line, run here against the real RabbitMQ (the metrics port
    changed to a free one), passes the healthcheck's probe."""
    command = list(compose()["services"]["sagabus"]["command"])
    port = free_port()
    command[command.index("--metrics-port") + 1] = str(port)
    env = {
        **os.environ,
        "SAGABUS_AMQP_URL": broker.transport_url,
        "SAGABUS_STORE": f"sqlite:///{tmp_path / 'bus.db'}",
        "SAGABUS_NAMESPACE": broker.names.namespace,
    }
    log = tmp_path / "daemon.log"
    probe = [sys.executable, *_probe_args(port)]
    try:
        async with daemon_running(
            sys.executable, "-m", "sagabus.cli", *command, cwd=ROOT, env=env, log=log,
            started=None,
        ) as daemon:

            async def healthy() -> bool:
                done = await asyncio.create_subprocess_exec(
                    *probe, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
                )
                return await done.wait() == 0 or daemon.returncode is not None

            await eventually(healthy, timeout=60, interval=0.5, what="the healthcheck passes")
            assert daemon.returncode is None, log.read_text()
    finally:
        _forget_daemon_queues(broker)
    assert daemon.returncode == 0, log.read_text()


def _probe_args(port: int) -> list[str]:
    """The compose healthcheck's python arguments, pointed at `port`."""
    test = compose()["services"]["sagabus"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    return [arg.replace(":9464/", f":{port}/") for arg in test[2:]]


def _forget_daemon_queues(broker: Broker) -> None:
    from bus.daemon import import_package, services_in
    from bus.unitofwork.runtime import bus_topology
    from bus.unitofwork.scheduled import ScheduledSends
    from saga_dsl.engine.wiring import saga_runtime

    endpoints = [
        *services_in(import_package("handlers")),
        *saga_runtime(ROOT / "sagas").endpoints,
        ScheduledSends(),
    ]
    broker.track(bus_topology(broker.names, endpoints, "classic"))


@pytest.mark.integration
async def test_the_compose_run_examples_work_against_a_running_daemon(
    make_bus: BusFactory, settings: Settings, tmp_path: Path
) -> None:
    """Each `docker compose run --rm sagabus ...` example of the compose file's header,
    run with the daemon service's environment (broker, store and namespace pointed at
    this test's), from a directory without a pyproject.toml, as in the image."""
    from bus.daemon import import_package, services_in
    from saga_dsl.engine.wiring import saga_runtime

    services = services_in(import_package("handlers"))  # registers the saga's contracts
    runtime = saga_runtime(ROOT / "sagas")
    await make_bus(
        [*services, *runtime.endpoints],
        background=[runtime.scheduler],
    )
    service_env = compose()["services"]["sagabus"]["environment"]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SAGABUS_")},
        **service_env,
        "SAGABUS_AMQP_URL": settings.amqp_url,
        "SAGABUS_STORE": settings.store,
        "SAGABUS_NAMESPACE": settings.namespace,
        "SAGABUS_LOG_FORMAT": "console",
        "COLUMNS": "200",
    }
    examples = re.findall(r"^#   docker compose run --rm sagabus (.+)$", COMPOSE.read_text(), re.M)
    outputs = []
    for example in examples:
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "sagabus.cli", *shlex.split(example)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, (example, done.stderr)
        outputs.append(done.stdout)
    assert "received OrderCompleted" in outputs[0]
    assert "order_processing" in outputs[1] and "completed" in outputs[1]
