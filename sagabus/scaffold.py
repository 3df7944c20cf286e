"""`sagabus init DIR`: a new project that runs, and whose tests pass, at once.

The files come from the templates of `sagabus/templates/project` (package data):
`__package__` in a path and `{{package}}`, `{{project}}` and `{{sagabus_version}}` in a
file are replaced, the `.tmpl` suffix dropped, and `gitignore` becomes `.gitignore`.
The JSON Schema of saga files is written beside them, for editors.
"""

from __future__ import annotations

import keyword
import re
import sys
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path

from bus.errors import ConfigurationError
from saga_dsl.scenarios.model import json_schema_text as scenario_schema_text
from saga_dsl.schema import json_schema_text

TEMPLATES = ("templates", "project")
SUFFIX = ".tmpl"
PACKAGE_DIR = "__package__"
RESERVED = frozenset({"bus", "saga_dsl", "sagabus", "handlers", "tests", "sagas"})
"""Package names that would shadow sagabus's own packages, or the project's folders."""
SCHEMA_FILE = "saga.schema.json"
SCENARIO_SCHEMA_FILE = "scenario.schema.json"


def package_name(directory: Path) -> str:
    """A Python package name from a directory name: `my-shop` gives `my_shop`."""
    name = re.sub(r"\W+", "_", directory.resolve().name.lower()).strip("_")
    if not name:
        name = "app"
    return f"app_{name}" if name[0].isdigit() else name


def check_package(name: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ConfigurationError(f"{name!r} is not a Python package name: give --package NAME")
    if name in RESERVED or name in sys.stdlib_module_names:
        raise ConfigurationError(
            f"a package named {name!r} would shadow another module: give --package NAME"
        )


def scaffold(directory: Path, package: str | None = None) -> list[Path]:
    """Writes a new project into `directory` (absent or empty); returns the files."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConfigurationError(f"{directory} exists and is not empty: choose a new directory")
    name = package or package_name(directory)
    check_package(name)
    values = {
        "package": name,
        "project": name.replace("_", "-"),
        "sagabus_version": _version(),
    }
    written = []
    root = resources.files("sagabus").joinpath(*TEMPLATES)
    for relative, template in _templates(root, ()):
        target = directory.joinpath(*_target_parts(relative, name))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_render(template.read_text(encoding="utf-8"), values), encoding="utf-8")
        written.append(target)
    schema = directory / SCHEMA_FILE
    schema.write_text(json_schema_text(), encoding="utf-8")
    written.append(schema)
    scenario_schema = directory / SCENARIO_SCHEMA_FILE
    scenario_schema.write_text(scenario_schema_text(), encoding="utf-8")
    written.append(scenario_schema)
    return sorted(written)


def _templates(
    node: Traversable, parts: tuple[str, ...]
) -> list[tuple[tuple[str, ...], Traversable]]:
    found = []
    for child in node.iterdir():
        if child.is_dir():
            if child.name != "__pycache__":
                found.extend(_templates(child, (*parts, child.name)))
        elif child.name.endswith(SUFFIX):
            found.append(((*parts, child.name), child))
    return found


def _target_parts(relative: tuple[str, ...], package: str) -> list[str]:
    parts = [package if part == PACKAGE_DIR else part for part in relative]
    parts[-1] = parts[-1].removesuffix(SUFFIX)
    if parts[-1] == "gitignore":
        parts[-1] = ".gitignore"
    return parts


def _render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _version() -> str:
    try:
        return metadata.version("sagabus")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "0.1"
