"""Middleware around handlers: order, skipping, errors, and docs/middleware.md's example
loaded by `sagabus run` from `[tool.sagabus] middleware` on RabbitMQ."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import eco_services
import pytest
from eco_services import EcoPing, EcoPong, echo
from support.buses import BusFactory
from support.daemons import SAGABUS_RUN, daemon_env, daemon_running

from bus.errors import ConfigurationError
from bus.settings import Settings
from bus.unitofwork.middleware import Middleware, Skip, WithMiddleware, load_middleware
from bus.wire.client import BusClient
from bus.wire.envelope import Envelope
from bus.wire.reply import NoReply

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


class Recorder(Middleware):
    def __init__(self, name: str, calls: list[str], skip_n: int | None = None) -> None:
        self.name, self.calls, self.skip_n = name, calls, skip_n

    async def before(self, message: Envelope, ctx: Any) -> None:
        self.calls.append(f"{self.name}.before")
        if message.payload.get("n") == self.skip_n:
            raise Skip("not this one")

    async def after(self, message: Envelope, ctx: Any, error: BaseException | None) -> None:
        self.calls.append(f"{self.name}.after:{type(error).__name__ if error else 'ok'}")


class Failing:
    name, commands, events = "failing", frozenset({"EcoPing"}), frozenset[str]()

    async def handle(self, message: Envelope, ctx: Any) -> None:
        raise RuntimeError("boom")


class Log:
    def info(self, *args: object, **kwargs: object) -> None:
        pass


class Ctx:
    log = Log()


async def test_hooks_run_in_order_and_after_sees_the_error() -> None:
    calls: list[str] = []
    endpoint = WithMiddleware(Failing(), [Recorder("a", calls), Recorder("b", calls)])  # type: ignore[list-item, arg-type]
    with pytest.raises(RuntimeError, match="boom"):
        await endpoint.handle(Envelope.of(EcoPing(n=1)), Ctx())  # type: ignore[arg-type]
    assert calls == ["a.before", "b.before", "b.after:RuntimeError", "a.after:RuntimeError"]


async def test_a_skip_stops_the_chain_and_the_handler() -> None:
    calls: list[str] = []
    chain = [Recorder("a", calls), Recorder("b", calls, skip_n=1), Recorder("c", calls)]
    endpoint = WithMiddleware(Failing(), chain)  # type: ignore[arg-type]
    await endpoint.handle(Envelope.of(EcoPing(n=1)), Ctx())  # type: ignore[arg-type]
    assert calls == ["a.before", "b.before", "a.after:ok"]


def test_bad_middleware_specs_fail_in_one_line() -> None:
    with pytest.raises(ConfigurationError, match="module:name"):
        load_middleware(["no_colon"])
    with pytest.raises(ConfigurationError, match="cannot import"):
        load_middleware(["no_such_module_here:X"])
    with pytest.raises(ConfigurationError, match="has no Nope"):
        load_middleware(["bus.unitofwork.middleware:Nope"])
    with pytest.raises(ConfigurationError, match="failed: TypeError"):
        load_middleware(["bus.unitofwork.middleware:WithMiddleware"])
    with pytest.raises(ConfigurationError, match="no before/after"):
        load_middleware(["bus.unitofwork.middleware:Middleware", "json:dumps"])


@pytest.mark.integration
async def test_a_skipped_message_is_acknowledged_without_its_handler(
    make_bus: BusFactory, settings: Settings
) -> None:
    eco_services.received.clear()
    calls: list[str] = []
    await make_bus([WithMiddleware(echo, [Recorder("gate", calls, skip_n=13)])])
    async with BusClient(settings) as client:
        with pytest.raises(NoReply):
            await client.request(EcoPing(n=13), reply=EcoPong, timeout=1.0)
        reply = await client.request(EcoPing(n=14), reply=EcoPong, timeout=10)
    assert reply.payload == {"n": 14}
    assert [r[1] for r in eco_services.received] == ["14"]
    assert calls == ["gate.before", "gate.before", "gate.after:ok"]


def docs_example() -> str:
    text = (ROOT / "docs" / "middleware.md").read_text()
    [block] = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return block


@pytest.mark.integration
async def test_the_documented_middleware_runs_under_sagabus_run(
    broker: Any, settings: Settings, tmp_path: Path, eventually
) -> None:
    (tmp_path / "middleware_example.py").write_text(docs_example())
    (tmp_path / "pyproject.toml").write_text(
        '[tool.sagabus]\nservices = ["eco_services"]\n'
        'middleware = ["middleware_example:TenantGate"]\n'
    )
    env = daemon_env(settings, HERE)
    log = tmp_path / "daemon.log"
    async with daemon_running(
        *SAGABUS_RUN, "--no-sagas", cwd=tmp_path, env=env, log=log
    ) as daemon:
        broker.track(_daemon_topology(settings))
        async with BusClient(settings) as client:
            reply = await client.request(EcoPing(n=3), reply=EcoPong, timeout=15)
            assert reply.payload == {"n": 3}
            with pytest.raises(NoReply):
                await client.request(
                    EcoPing(n=4), reply=EcoPong, timeout=1.5, headers={"tenant": "suspended"}
                )
        await eventually(lambda: "tenant suspended is suspended" in log.read_text(), timeout=10)
        assert "handler timed" in log.read_text()
    assert daemon.returncode == 0, log.read_text()


def _daemon_topology(settings: Settings) -> Any:
    from bus.unitofwork.runtime import bus_topology
    from bus.unitofwork.scheduled import ScheduledSends
    from bus.wire.topology import Names

    return bus_topology(Names(settings.namespace), [echo, ScheduledSends()], "classic")
