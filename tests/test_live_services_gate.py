"""A run cannot pass without its services or by skipping: the session-start gate of
tests/conftest.py fails at once, in one line, when RabbitMQ or PostgreSQL (server, vhost,
role, database) is missing, and a run that skipped a test fails unless skips were asked
for with SAGABUS_TEST_ALLOW_SKIP=1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from live_services import ALLOW_SKIP, AMQP_URL, PG_URL, services_missing

TESTS = Path(__file__).resolve().parent
MISSING_DATABASE = PG_URL.rsplit("/", 1)[0] + "/sagabus_no_such_database"
MISSING_ROLE = "postgresql://sagabus_no_such_role@127.0.0.1:5432/sagabus"
BAD_VHOST = AMQP_URL.rstrip("/") + "/sagabus_no_such_vhost"

# The rules of tests/conftest.py, loaded under another name into a throw-away test dir.
RULES_CONFTEST = f"""
import importlib.util, sys
sys.path.insert(0, {str(TESTS)!r})
_spec = importlib.util.spec_from_file_location("sagabus_test_rules", {str(TESTS / "conftest.py")!r})
_rules = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_rules)
pytest_sessionstart = _rules.pytest_sessionstart
pytest_runtest_logreport = _rules.pytest_runtest_logreport
pytest_sessionfinish = _rules.pytest_sessionfinish
pytest_terminal_summary = _rules.pytest_terminal_summary
"""


async def test_the_services_of_this_run_answer() -> None:
    assert await services_missing() is None


@pytest.mark.parametrize(
    ("amqp_url", "pg_url", "said"),
    [
        (AMQP_URL, MISSING_DATABASE, 'PostgreSQL at {pg} (InvalidCatalogNameError: database'
         ' "sagabus_no_such_database" does not exist)'),
        (AMQP_URL, MISSING_ROLE, 'PostgreSQL at {pg} (InvalidAuthorizationSpecificationError:'
         ' role "sagabus_no_such_role" does not exist)'),
        (BAD_VHOST, PG_URL, "RabbitMQ at {amqp} (vhost 'sagabus_no_such_vhost' refused"),
        ("amqp://guest:wrong@127.0.0.1:5672/", PG_URL, "RabbitMQ at amqp://guest:***@127.0.0.1"
         ":5672/ (ProbableAuthenticationError: ACCESS_REFUSED"),
    ],
    ids=["missing database", "missing role", "missing vhost", "wrong password"],
)
async def test_a_missing_service_is_one_line_saying_which_and_how_to_start_it(
    amqp_url: str, pg_url: str, said: str
) -> None:
    line = await services_missing(amqp_url, pg_url)
    assert line is not None
    assert "\n" not in line
    assert line.startswith("test services missing: ")
    shown = {
        "pg": pg_url.replace(":sagabus@", ":***@"),
        "amqp": amqp_url.replace(":guest@", ":***@"),
    }
    assert said.format(**shown) in line
    assert "bash scripts/services.sh" in line and f"{ALLOW_SKIP}=1" in line
    assert "wrong" not in line  # no password in the line


def _pytest(directory: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    environment = {k: v for k, v in os.environ.items() if k != ALLOW_SKIP} | env
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(directory)],
        cwd=directory, env=environment, capture_output=True, text=True, timeout=120,
    )
    return done, time.monotonic() - started


def _test_dir(tmp_path: Path, body: str) -> Path:
    (tmp_path / "conftest.py").write_text(RULES_CONFTEST)
    (tmp_path / "test_probe.py").write_text(body)
    return tmp_path


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("SAGABUS_TEST_POSTGRES", MISSING_DATABASE, '"sagabus_no_such_database" does not exist'),
        ("SAGABUS_TEST_AMQP_URL", BAD_VHOST, "vhost 'sagabus_no_such_vhost' refused"),
    ],
    ids=["missing database", "missing vhost"],
)
def test_a_run_without_its_services_fails_at_the_start_in_one_line(
    tmp_path: Path, variable: str, value: str, said: str
) -> None:
    probe = _test_dir(tmp_path, "def test_never_runs():\n    raise AssertionError('ran')\n")
    done, took = _pytest(probe, **{variable: value})
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if said in line]
    assert len(lines) == 1, done.stdout + done.stderr
    assert lines[0].startswith("ERROR: test services missing: "), lines[0]
    assert "ran" not in done.stdout and "test_never_runs" not in done.stdout
    assert took < 60


SKIPPING = "import pytest\n\ndef test_skips():\n    pytest.skip('no widget here')\n"


def test_a_run_that_skipped_fails(tmp_path: Path) -> None:
    done, _ = _pytest(_test_dir(tmp_path, SKIPPING))
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert "no widget here" in done.stdout  # -rs shows the reason
    assert f"1 test(s) skipped (see -rs for why); a run may skip only with {ALLOW_SKIP}=1" in (
        done.stdout
    )


def test_a_developer_may_ask_for_skips(tmp_path: Path) -> None:
    done, _ = _pytest(_test_dir(tmp_path, SKIPPING), **{ALLOW_SKIP: "1"})
    assert done.returncode == pytest.ExitCode.OK, done.stdout + done.stderr


def test_an_expected_failure_is_not_a_skip(tmp_path: Path) -> None:
    body = "import pytest\n\n@pytest.mark.xfail(strict=True)\ndef test_x():\n    assert False\n"
    done, _ = _pytest(_test_dir(tmp_path, body))
    assert done.returncode == pytest.ExitCode.OK, done.stdout + done.stderr
