"""`--handlers` takes a module, a package, or `module:attribute`, from the working
directory first; and a single-file module there is served by `sagabus run`."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from live_services import AMQP_URL
from project_support import (
    USER_PINGS,
    delete_topology,
    sagabus,
    start_daemon,
    stop_daemon,
    user_env,
)

from bus.errors import ConfigurationError
from bus.store import open_store
from sagabus.imports import load_services
from sagabus.syspath import put_on_path

SERVICES = """
from bus import Service

first = Service("first")
second = Service("second")
both = [first, second]
number = 3
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"user_services_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(SERVICES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    put_on_path()
    return name


def test_the_working_directory_comes_first(module: str, tmp_path: Path) -> None:
    assert sys.path[0] == str(tmp_path)


def test_a_module_a_service_or_a_list_of_services(module: str) -> None:
    assert [s.name for s in load_services(module)] == ["first", "second"]
    assert [s.name for s in load_services(f"{module}:second")] == ["second"]
    assert [s.name for s in load_services(f"{module}:both")] == ["first", "second"]


def test_an_attribute_that_is_missing_or_not_a_service_is_one_line(module: str) -> None:
    with pytest.raises(ConfigurationError, match="has no attribute 'nope'"):
        load_services(f"{module}:nope")
    with pytest.raises(ConfigurationError, match="is a int, not a Service or a list"):
        load_services(f"{module}:number")


def test_a_package_with_its_submodules(tmp_path: Path, module: str) -> None:
    package = tmp_path / f"pkg_{module}"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "inner" / "__init__.py").write_text("")
    (package / "inner" / "deep.py").write_text("from bus import Service\ndeep = Service('deep')\n")
    assert [s.name for s in load_services(package.name)] == ["deep"]




@pytest.mark.integration
async def test_a_single_file_module_in_the_working_directory_is_served(
    tmp_path: Path, eventually
) -> None:
    (tmp_path / "myservices.py").write_text(USER_PINGS.read_text())
    store = f"sqlite:///{tmp_path / 'pings.db'}"
    namespace = f"single-{uuid.uuid4().hex[:8]}"
    env = user_env(SAGABUS_AMQP_URL=AMQP_URL, SAGABUS_NAMESPACE=namespace, SAGABUS_STORE=store)
    daemon = await start_daemon(["run", "--handlers", "myservices"], tmp_path, env,
                                tmp_path / "run.log")
    try:
        code, out, err = await sagabus(
            "send", "SingleFilePing", "--data", '{"ping_id": "p-1"}',
            "--contracts", "myservices", cwd=tmp_path, env=env,
        )
        assert code == 0, err
        assert out.startswith("sent SingleFilePing ")

        async def seen() -> object:
            opened = open_store(store, namespace=namespace)
            async with opened, opened.transaction() as tx:
                return await tx.state_get("pings", "p-1")

        assert await eventually(seen, timeout=20, what="the ping handled") == {"seen": True}
        assert await stop_daemon(daemon) == 0
    finally:
        await stop_daemon(daemon)
        await delete_topology(tmp_path, env, ["myservices"])
