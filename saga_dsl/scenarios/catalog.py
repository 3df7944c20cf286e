"""Finding the saga a scenario file names, loading each saga file once.

`saga: order_processing` is looked up among the saga files of the scenario file's own
directory and of the directory above it (so `sagas/tests/*.yaml` find `sagas/*.yaml`);
`saga: ../order_processing.yaml` is a file, relative to the scenario file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import saga_dsl
from saga_dsl.diagnostics import suggest
from saga_dsl.machine import Machine
from saga_dsl.saga_files import SAGA_SUFFIXES

_SCENARIO_KEY = re.compile(r"^scenarios\s*:", re.MULTILINE)


def is_scenario_file(path: Path) -> bool:
    """A YAML file with a top-level `scenarios:` key (saga files have none)."""
    if path.suffix not in SAGA_SUFFIXES or not path.is_file():
        return False
    try:
        return _SCENARIO_KEY.search(path.read_text("utf-8", "replace")) is not None
    except OSError:
        return False


class SagaNotFound(Exception):
    """The named saga is not there, or its file does not validate."""


@dataclass(frozen=True)
class Found:
    machine: Machine
    file: str


class Catalog:
    """Compiled sagas by file, loaded on first use."""

    def __init__(self) -> None:
        self._by_path: dict[Path, Machine | str] = {}

    def find(self, name: str, scenario_file: Path) -> Found:
        """The saga `name` (a saga name or a relative file) for `scenario_file`."""
        if name.endswith(SAGA_SUFFIXES):
            path = scenario_file.parent / name
            return Found(self._machine(path), str(path))
        seen: list[str] = []
        broken: list[str] = []
        here = scenario_file.parent
        above = here.parent if here.parent != here else here.resolve().parent
        for folder in (here, above):
            for path in sorted(folder.iterdir()) if folder.is_dir() else ():
                if path.suffix not in SAGA_SUFFIXES or is_scenario_file(path):
                    continue
                loaded = self._load(path)
                if isinstance(loaded, str):
                    broken.append(f"{path} ({loaded})")
                    continue
                seen.append(loaded.name)
                if loaded.name == name:
                    return Found(loaded, str(path))
        places = f"{here} or {above}"
        message = f"no saga named {name!r} in {places}{suggest(name, seen)}"
        if broken:
            message += "; not loaded: " + "; ".join(broken)
        raise SagaNotFound(message)

    def _machine(self, path: Path) -> Machine:
        if not path.is_file():
            raise SagaNotFound(f"no saga file {str(path)!r}")
        loaded = self._load(path)
        if isinstance(loaded, str):
            raise SagaNotFound(loaded)
        return loaded

    def _load(self, path: Path) -> Machine | str:
        key = path.resolve()
        cached = self._by_path.get(key)
        if cached is None:
            result = saga_dsl.load(path)
            if result.definition is None:
                first = result.errors[0] if result.errors else "it does not load"
                cached = f"the saga file does not validate: {first}"
            else:
                cached = saga_dsl.compile(result.definition)
            self._by_path[key] = cached
        return cached
