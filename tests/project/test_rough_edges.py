"""The rough edges a new user meets first, each a one-line answer (issue 12)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from project_support import REPO, USER_PINGS, sagabus, user_env

import sagabus.cli.app as cli_app

SHOWCASE = REPO / "sagas" / "order_processing.yaml"


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def one_line(err: str) -> str:
    assert err.count("\n") == 1, f"not one line: {err!r}"
    return err.strip()


async def test_validate_with_an_unimportable_contracts_module_is_one_line_exit_2(
    tmp_path: Path,
) -> None:
    saga = tmp_path / "f.yaml"
    saga.write_text(SHOWCASE.read_text())
    code, out, err = await sagabus(
        "validate", "--contracts", "nosuchmod", "f.yaml", cwd=tmp_path, env=user_env()
    )
    assert code == 2
    assert one_line(err) == "sagabus: error: cannot import 'nosuchmod': no such module"
    assert out == ""


async def test_list_without_a_store_creates_no_empty_store(tmp_path: Path) -> None:
    code, _, err = await sagabus("list", cwd=tmp_path, env=user_env())
    assert code == 2
    assert one_line(err).startswith("sagabus: error: no store at ./sagabus.db")
    assert entries(tmp_path) == []
    code, _, err = await sagabus("status", "o-1", cwd=tmp_path, env=user_env())
    assert code == 2 and entries(tmp_path) == []


async def test_send_of_a_misspelt_type_says_did_you_mean(tmp_path: Path) -> None:
    env = user_env()
    code, _, err = await sagabus(
        "send", "CreateOrdr", "--contracts", "handlers.messages", cwd=tmp_path, env=env
    )
    assert code == 2
    assert one_line(err) == (
        "sagabus: error: unknown message type 'CreateOrdr' (did you mean CreateOrder?)"
    )
    code, _, err = await sagabus(
        "send", "createorder", "--contracts", "handlers.messages", cwd=tmp_path, env=env
    )
    assert "(did you mean CreateOrder?)" in one_line(err)
    code, _, err = await sagabus(
        "send", "Nope", "--contracts", "handlers.messages", cwd=tmp_path, env=env
    )
    assert code == 2
    assert one_line(err).startswith("sagabus: error: unknown message type 'Nope' (known: ")


async def test_run_with_no_project_is_one_line_and_serves_no_example(tmp_path: Path) -> None:
    code, _, err = await sagabus("run", cwd=tmp_path, env=user_env())
    assert code == 2
    assert one_line(err).startswith("sagabus: error: nothing to run: no services and no sagas")


async def test_a_failing_user_module_is_one_line_with_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "myservices.py").write_text("from bus import Service\n\nrate = 1 / 0\n")
    code, _, err = await sagabus(
        "run", "--handlers", "myservices", cwd=tmp_path, env=user_env()
    )
    assert code == 2
    assert one_line(err) == (
        "sagabus: error: cannot import 'myservices': ZeroDivisionError: division by zero "
        "(myservices.py:3)"
    )


async def test_a_missing_dependency_of_a_user_module_is_not_no_such_module(
    tmp_path: Path,
) -> None:
    (tmp_path / "myservices.py").write_text("import not_installed_anywhere\n")
    code, _, err = await sagabus("run", "--handlers", "myservices", cwd=tmp_path, env=user_env())
    assert code == 2
    assert one_line(err) == (
        "sagabus: error: cannot import 'myservices': ModuleNotFoundError: No module named "
        "'not_installed_anywhere' (myservices.py:1)"
    )


async def test_python_dash_m_sagabus_is_the_command_line(tmp_path: Path) -> None:
    code, out, _ = await sagabus("--help", cwd=tmp_path, env=user_env())
    assert code == 0
    assert "init" in out and "config" in out and "run" in out


HARNESS_SCRIPT = """
import asyncio
from bus.testing import BusHarness
from myservices import SingleFilePing, pinger

async def main() -> None:
    async with BusHarness(services=[pinger]) as h:
        await h.send(SingleFilePing(ping_id="p-1"))
        await h.wait_idle()
    print("done")

asyncio.run(main())
"""


@pytest.mark.parametrize(("level", "quiet"), [("warning", True), (None, True), ("debug", False)])
async def test_a_harness_script_outside_pytest_logs_at_sagabus_log_level(
    tmp_path: Path, level: str | None, quiet: bool
) -> None:
    script = tmp_path / "script.py"
    script.write_text(HARNESS_SCRIPT)
    (tmp_path / "myservices.py").write_text(USER_PINGS.read_text())
    env = user_env(**({"SAGABUS_LOG_LEVEL": level} if level else {}))
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out.decode() == "done\n"
    if quiet:
        assert err.decode() == ""
    else:
        assert "[debug" in err.decode()


DOCUMENTED = re.compile(r"sagabus ((?:[a-z][a-z-]* ?)+)((?:[^`\n|])*)")


def documented_options() -> list[tuple[str, str, str]]:
    """(file, command, option) of every `--option` written after `sagabus COMMAND`."""
    found = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for match in DOCUMENTED.finditer(doc.read_text()):
            words = match.group(1).split()
            for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", match.group(2)):
                found.append((doc.name, " ".join(words), option))
    return found


def command_options(words: list[str]) -> set[str] | None:
    """The options of the deepest `sagabus` (sub)command `words` names, None if none."""
    cli_app._load_commands()
    command: Any = typer.main.get_command(cli_app.app)
    named = False
    for word in words:
        subcommands = getattr(command, "commands", {})
        if word not in subcommands:
            break
        command = subcommands[word]
        named = True
    if not named:
        return None
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def test_every_option_the_docs_give_a_command_exists() -> None:
    wrong = []
    for doc, words, option in documented_options():
        options = command_options(words.split())
        if options is not None and option not in options:
            wrong.append(f"{doc}: sagabus {words} {option}")
    assert wrong == []


def test_the_docs_check_sees_a_wrong_option() -> None:
    assert command_options(["list"]) is not None
    assert "--status" not in (command_options(["list"]) or set())
    assert "--state" in (command_options(["list"]) or set())
    assert ("operations.md", "list", "--state") in documented_options()


async def test_validate_without_paths_checks_the_projects_sagas(tmp_path: Path) -> None:
    code, _, err = await sagabus("validate", cwd=REPO, env=user_env())
    assert code == 0, err
    assert "1 file(s) checked: 0 error(s)" in err
    code, _, err = await sagabus("validate", cwd=tmp_path, env=user_env())
    assert code == 2
    assert one_line(err) == (
        "sagabus: error: name saga files or directories, or sagas in [tool.sagabus] of "
        "pyproject.toml"
    )
