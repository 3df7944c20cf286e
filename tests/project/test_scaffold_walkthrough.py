"""`sagabus init` as a new user meets it, on the real RabbitMQ:

    sagabus init shop && cd shop && sagabus validate sagas && sagabus run
    sagabus send PlaceOrder --data '...' --follow      # ends the saga
    pytest                                             # in shop/, passes

The `sagabus` commands are the ones README.md's "Your own project" section gives, word
for word. The project is not pip-installed (that takes minutes): the test runs the
checkout's `sagabus` with the working directory first on sys.path, which is how
`sagabus` finds an installed project's modules too.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
import tomllib
import uuid
from pathlib import Path

import pytest
from live_services import AMQP_URL
from project_support import (
    REPO,
    delete_topology,
    sagabus,
    start_daemon,
    stop_daemon,
    user_env,
)

pytestmark = pytest.mark.integration


def readme_commands() -> dict[str, list[str]]:
    """The arguments of each `sagabus` command of README's "Your own project", by
    subcommand."""
    section = (REPO / "README.md").read_text().split("## Your own project", 1)[1]
    section = section.split("\n## ", 1)[0]
    commands = {}
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "sagabus":
                commands[words[1]] = words[1:]
    return commands


def test_the_readme_walks_through_init_validate_run_send() -> None:
    commands = readme_commands()
    assert list(commands) == ["init", "validate", "run", "send"]
    assert commands["send"][-1] == "--follow"


async def test_init_then_validate_run_send_follow_and_pytest(tmp_path: Path) -> None:
    readme = readme_commands()
    namespace = f"init-{uuid.uuid4().hex[:8]}"
    env = user_env(SAGABUS_AMQP_URL=AMQP_URL, SAGABUS_NAMESPACE=namespace)
    code, out, err = await sagabus("init", "shop", cwd=tmp_path, env=env)  # README: ~/shop
    assert code == 0, err
    shop = tmp_path / "shop"
    assert "created shop/pyproject.toml" in out
    saga = (shop / "sagas" / "checkout.yaml").read_text()
    assert saga.startswith("# yaml-language-server: $schema=../saga.schema.json\n")
    assert (shop / "saga.schema.json").is_file()

    code, out, err = await sagabus(*readme["validate"], cwd=shop, env=env)
    assert code == 0, out + err
    assert "1 file(s) checked: 0 error(s), 0 warning(s)" in err

    code, out, err = await sagabus("test", "sagas", cwd=shop, env=env)
    assert code == 0, out + err
    assert "3 passed, 0 failed" in out
    assert out.rstrip().endswith("checkout: 4/4 paths covered (100%)")

    daemon = await start_daemon(readme["run"], shop, env, tmp_path / "run.log")
    try:
        code, out, err = await sagabus(
            *readme["send"], "--follow-timeout", "60", cwd=shop, env=env
        )
        assert code == 0, out + err
        assert "PaymentCharged: charging -> confirmed" in out
        assert out.rstrip().endswith("ended confirmed (completed)")

        code, out, err = await sagabus(
            "send", "PlaceOrder", "--data", '{"order_id": "o-2", "amount": 5000}', "--follow",
            "--follow-timeout", "60", cwd=shop, env=env,
        )
        assert code == 1, out + err
        assert out.rstrip().endswith("ended failed (failed)")
        assert await stop_daemon(daemon) == 0
    finally:
        await stop_daemon(daemon)
        await delete_topology(shop, env)
    # the store [tool.sagabus] names, in the file of this namespace beside it
    assert (shop / f"sagabus.{namespace}.db").is_file()  # [tool.sagabus]'s, namespaced

    tests = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=shop,
        env=user_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    report, _ = await asyncio.wait_for(tests.communicate(), 180)
    assert tests.returncode == 0, report.decode()
    assert "7 passed" in report.decode()  # 4 tests and the 3 scenarios of sagas/tests


async def test_init_refuses_a_directory_in_use_and_a_bad_package_name(tmp_path: Path) -> None:
    env = user_env()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    code, _, err = await sagabus("init", "used", cwd=tmp_path, env=env)
    assert (code, err.count("\n")) == (2, 1)
    assert "used exists and is not empty" in err
    assert (tmp_path / "used" / "notes.txt").read_text() == "mine"

    code, _, err = await sagabus("init", "x", "--package", "json", cwd=tmp_path, env=env)
    assert (code, err.count("\n")) == (2, 1)
    assert "would shadow another module" in err
    assert not (tmp_path / "x").exists()


def test_every_template_is_package_data_of_the_wheel() -> None:
    """`sagabus init` from an installed wheel finds its templates: each file of
    sagabus/templates/project matches a package-data pattern of the sagabus package."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["sagabus"]
    package = REPO / "sagabus"
    templates = [p for p in (package / "templates" / "project").rglob("*") if p.is_file()]
    assert len(templates) >= 9
    packaged = {path for pattern in patterns for path in package.glob(pattern)}
    unmatched = [p for p in templates if "__pycache__" not in p.parts and p not in packaged]
    assert unmatched == []
