"""pytest itself collects scenario files (the `pytest11` entry point) in another project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scenario_support import SHOWCASE

PASSING = """\
saga: order_processing
scenarios:
  - name: starts
    steps:
      - event: OrderCreated
        with: {order_id: o-1, customer_id: c-1, amount: 1.0, items: []}
        expect: {state: awaiting_payment}
  - name: wrongly expects the end at once
    steps:
      - event: OrderCreated
        with: {order_id: o-1, customer_id: c-1, amount: 1.0, items: []}
        expect: {status: completed}
"""


def _pytest(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pytest_runs_each_scenario_and_explains_a_failure(tmp_path: Path) -> None:
    """The saga file and other YAML beside the scenarios are not collected."""
    (tmp_path / "sagas" / "tests").mkdir(parents=True)
    (tmp_path / "sagas" / "order_processing.yaml").write_text(SHOWCASE.read_text())
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    (tmp_path / "sagas" / "tests" / "order.yaml").write_text(PASSING)

    run = _pytest(tmp_path)

    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout
    assert "sagas/tests/order.yaml:12:26: step 1 (event OrderCreated): status differs" in (
        run.stdout
    )
    assert 'expected: "completed"' in run.stdout
    assert 'actual:   "running"' in run.stdout


def test_a_scenario_file_that_does_not_load_fails_in_pytest(tmp_path: Path) -> None:
    (tmp_path / "order_processing.yaml").write_text(SHOWCASE.read_text())
    (tmp_path / "broken.yaml").write_text("saga: order_processing\nscenarios: []\n")

    run = _pytest(tmp_path)

    assert run.returncode == 1, run.stdout + run.stderr
    assert "the scenario file does not load" in run.stdout
    assert "broken.yaml:2:12: error: scenarios: list should have at least 1 item" in run.stdout
