"""The layers import downwards only: bus/ (the wire and the unit of work) knows neither
the saga language nor the application nor the example services; saga_dsl/ knows bus/
but not the application or the example services. Every import counts, also those
inside functions and under `if TYPE_CHECKING:`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "bus": ("saga_dsl", "handlers", "sagabus"),
    "saga_dsl": ("sagabus", "handlers"),
}


def imported_modules(source: str) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import in `source`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def violations(package_dir: Path, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        for line, module in imported_modules(path.read_text(encoding="utf-8")):
            top = module.split(".", 1)[0]
            if top in forbidden:
                found.append(f"{path.relative_to(package_dir.parent)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_no_layer_above_it(layer: str) -> None:
    assert violations(ROOT / layer, FORBIDDEN[layer]) == []


@pytest.mark.parametrize(
    "source",
    [
        "import saga_dsl\n",
        "from saga_dsl.engine.wiring import saga_runtime\n",
        "def f():\n    import handlers.messages as m\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from saga_dsl import x\n",
        "import importlib\nimportlib.import_module('handlers')\n",
    ],
)
def test_the_check_sees_every_kind_of_import(tmp_path: Path, source: str) -> None:
    layer = tmp_path / "bus"
    (layer / "wire").mkdir(parents=True)
    (layer / "wire" / "sneaky.py").write_text(source)
    assert len(violations(layer, FORBIDDEN["bus"])) == 1


def test_relative_and_allowed_imports_are_fine(tmp_path: Path) -> None:
    layer = tmp_path / "saga_dsl"
    layer.mkdir()
    (layer / "ok.py").write_text("from . import machine\nimport bus.wire\nfrom bus import x\n")
    assert violations(layer, FORBIDDEN["saga_dsl"]) == []
