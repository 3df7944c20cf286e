"""`sagabus validate`: exit codes and output."""

from __future__ import annotations

from pathlib import Path

from dsl_support import BROKEN, REPO, SHOWCASE, sagabus

from bus.errors import ConfigurationError


def test_validate_accepts_the_shipped_sagas() -> None:
    files = sorted(str(p) for p in (REPO / "sagas").glob("*.yaml"))
    outcome = sagabus("validate", *files)
    assert outcome.exit_code == 0, outcome.output
    assert "0 error(s)" in outcome.output


def test_validate_accepts_a_directory() -> None:
    assert sagabus("validate", str(REPO / "sagas")).exit_code == 0


def test_warnings_are_printed_but_do_not_fail(tmp_path: Path) -> None:
    warned = tmp_path / "retry.yaml"
    warned.write_text(
        SHOWCASE.read_text().replace(
            "  manual_review:\n", "  manual_review:\n    retry: {attempts: 1, after: 1s}\n"
        )
    )
    line = warned.read_text().splitlines().index("    retry: {attempts: 1, after: 1s}") + 1
    outcome = sagabus("validate", "--contracts", "", str(warned))
    assert outcome.exit_code == 0
    assert f"{warned}:{line}:5: warning: state 'manual_review' has `retry`" in outcome.output


def test_every_error_of_every_file_is_printed(tmp_path: Path) -> None:
    files = [str(BROKEN / "goto_missing_state.yaml"), str(BROKEN / "no_path_to_final.yaml")]
    outcome = sagabus("validate", "--contracts", "", *files)
    assert outcome.exit_code == 1
    assert outcome.output.count(": error: ") == 4


def test_a_missing_file_is_an_error_not_a_traceback() -> None:
    outcome = sagabus("validate", "/nonexistent.yaml")
    assert outcome.exit_code == 1
    assert "/nonexistent.yaml:1:1: error: cannot read the file" in outcome.output


def test_an_unimportable_contracts_module_is_an_error_not_a_silent_skip() -> None:
    # `main` turns the ConfigurationError into one line and exit 2
    # (tests/project/test_rough_edges.py runs it as a process)
    outcome = sagabus("validate", "--contracts", "no_such_module_here", str(SHOWCASE))
    assert isinstance(outcome.exception, ConfigurationError)
    assert str(outcome.exception) == "cannot import 'no_such_module_here': no such module"


def test_a_directory_without_sagas_is_an_error(tmp_path: Path) -> None:
    outcome = sagabus("validate", str(tmp_path))
    assert outcome.exit_code == 1
    assert "no saga files" in outcome.output
