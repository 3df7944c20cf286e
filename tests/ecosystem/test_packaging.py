"""Packaging: the wheel is typed and complete, PostgreSQL is an extra with a clear
message when missing, and pamqp stays in the range the decoder patch was tested on."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from bus.errors import ConfigurationError
from bus.store import open_store

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    target = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source")  # setuptools writes build/ beside the sources
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("bus", "saga_dsl", "sagabus", "handlers"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(target),
         str(source)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if built.returncode != 0:
        pytest.skip(f"the wheel could not be built here: {built.stderr.strip()[-300:]}")
    [path] = target.glob("sagabus-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_is_typed_and_ships_the_console_files(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert {"bus/py.typed", "saga_dsl/py.typed", "sagabus/py.typed"} <= names
    assert any(n.startswith("sagabus/console/templates/") for n in names)
    assert not any(n.startswith("tests/") for n in names)


def test_the_wheel_metadata_has_the_extras_and_no_hard_asyncpg(wheel: zipfile.ZipFile) -> None:
    [metadata_name] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = wheel.read(metadata_name).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    asyncpg = [line for line in requires if "asyncpg" in line]
    assert asyncpg and all('extra == "postgres"' in line for line in asyncpg)
    assert any("opentelemetry-exporter-otlp" in line and 'extra == "otel"' in line
               for line in requires)
    assert "License-Expression: Apache-2.0" in metadata
    assert "Classifier: Typing :: Typed" in metadata


def test_a_postgres_store_without_asyncpg_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    for name in [m for m in sys.modules if m == "bus.store.postgres"
                 or m.startswith("bus.store.postgres.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ConfigurationError, match=r"sagabus\[postgres\]"):
        open_store("postgresql://localhost/sagabus")


def test_the_installed_pamqp_is_in_the_pinned_range() -> None:
    [pin] = [d for d in PYPROJECT["project"]["dependencies"] if d.startswith("pamqp")]
    assert pin == "pamqp>=4.0,<4.1"
    assert version("pamqp").startswith("4.0.")
