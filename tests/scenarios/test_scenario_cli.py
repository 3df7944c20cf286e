"""`sagabus test` and `sagabus coverage` on the order saga's scenarios and broken copies."""

from __future__ import annotations

import shutil
from pathlib import Path

from scenario_support import ORDER_SCENARIOS, SAGAS, SHOWCASE, sagabus

from saga_dsl.scenarios import load


def _copy_sagas(tmp_path: Path, leave_out: str | None = None) -> Path:
    folder = tmp_path / "sagas"
    (folder / "tests").mkdir(parents=True)
    shutil.copy(SHOWCASE, folder)
    for scenario in ORDER_SCENARIOS:
        if scenario.name != leave_out:
            shutil.copy(scenario, folder / "tests")
    return folder


def test_the_order_scenarios_pass_and_cover_every_path() -> None:
    result = sagabus("test", str(SAGAS))
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert "0 failed, 0 file error(s)" in result.output
    assert "order_processing: 31/31 paths covered (100%)" in result.output


def test_one_changed_expected_state_fails_with_its_file_and_line(tmp_path: Path) -> None:
    folder = _copy_sagas(tmp_path)
    happy = folder / "tests" / "order_happy_path.yaml"
    text = happy.read_text()
    assert "state: shipping\n" in text
    happy.write_text(text.replace("state: shipping\n", "state: completed\n", 1))
    line = text[: text.index("state: shipping\n")].count("\n") + 1

    result = sagabus("test", str(folder))

    assert result.exit_code == 1
    assert f"FAIL {happy}:14 a small order is paid, reserved, shipped and completed" in (
        result.output
    )
    assert f"{happy}:{line}:18: step 3 (event InventoryReserved): state differs" in result.output
    assert 'expected: "completed"' in result.output
    assert 'actual:   "shipping"' in result.output


def test_coverage_of_the_order_saga_is_complete() -> None:
    result = sagabus("coverage", str(SHOWCASE), "--fail-under", "100")
    assert result.exit_code == 0, result.output
    assert "MISSING" not in result.output
    assert result.output.rstrip().endswith("order_processing: 31/31 paths covered (100%)")


def test_without_the_shipping_scenarios_coverage_lists_what_is_missing(tmp_path: Path) -> None:
    folder = _copy_sagas(tmp_path, leave_out="order_shipping.yaml")

    result = sagabus("coverage", str(folder / SHOWCASE.name), "--fail-under", "100", "--missing")

    assert result.exit_code == 1
    missing = [line.split("  ")[-1] for line in result.output.splitlines() if "MISSING" in line]
    assert missing == [
        "shipping -.-> cancelled on timeout",
        "shipping: all 2 resend(s) made",
    ]
    assert "order_processing: 29/31 paths covered (94%)" in result.output
    assert '- name: "TODO: shipping -.-> cancelled on timeout"' in result.output


def test_coverage_under_the_bar_only_fails_with_fail_under(tmp_path: Path) -> None:
    folder = _copy_sagas(tmp_path, leave_out="order_shipping.yaml")
    assert sagabus("coverage", str(folder / SHOWCASE.name)).exit_code == 0
    assert sagabus("coverage", str(folder / SHOWCASE.name), "--fail-under", "90").exit_code == 0


def test_a_broken_scenario_file_fails_the_run_with_its_position(tmp_path: Path) -> None:
    folder = _copy_sagas(tmp_path)
    broken = folder / "tests" / "broken.yaml"
    broken.write_text("saga: order_processing\nscenarios:\n  - name: x\n    stepz: []\n")

    result = sagabus("test", str(folder))

    assert result.exit_code == 1
    assert f"{broken}:4:5: error: unknown key 'stepz' in scenarios[0]; did you mean 'steps'?" in (
        result.output
    )


def test_no_scenario_files_is_an_error(tmp_path: Path) -> None:
    result = sagabus("test", str(tmp_path))
    assert result.exit_code == 1
    assert "no scenario files" in result.output


def test_the_missing_skeletons_are_a_scenario_file_that_loads(tmp_path: Path) -> None:
    folder = _copy_sagas(tmp_path, leave_out="order_review.yaml")
    result = sagabus("coverage", str(folder / SHOWCASE.name), "--missing")
    skeleton = result.output[result.output.index("saga: order_processing") :]
    assert "TODO: make `event.amount > 10000` true" in skeleton
    (folder / "tests" / "skeleton.yaml").write_text(skeleton)

    loaded = load(folder / "tests" / "skeleton.yaml")

    assert loaded.suite is not None, [str(d) for d in loaded.diagnostics]
    assert len(loaded.suite.cases) == result.output.count("MISSING") >= 1


def test_coverage_from_a_directory_that_is_not_there_is_an_error(tmp_path: Path) -> None:
    result = sagabus("coverage", str(SHOWCASE), "--scenarios", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert "not a directory" in result.output


def test_hidden_directories_are_not_searched(tmp_path: Path) -> None:
    folder = _copy_sagas(tmp_path)
    hidden = tmp_path / ".venv" / "tests"
    hidden.mkdir(parents=True)
    (hidden / "order_happy_path.yaml").write_text("saga: nowhere\nscenarios: []\n")

    result = sagabus("test", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert ".venv" not in result.output
    assert str(folder / "tests" / "order_happy_path.yaml") in result.output
