"""The README cannot go stale: its saga graph is what `sagabus graph` draws today."""

from __future__ import annotations

import re
from pathlib import Path

import handlers.messages  # noqa: F401  (registers the contracts the saga names)
import saga_dsl
from bus.wire.contracts import registry
from saga_dsl.graph import render

ROOT = Path(__file__).resolve().parent.parent


def test_readme_embeds_the_current_graph_of_the_order_saga() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```mermaid\n(.*?)```", readme, flags=re.S)
    result = saga_dsl.load(ROOT / "sagas" / "order_processing.yaml", registry=registry)
    assert result.definition is not None, result.diagnostics
    drawn = render(saga_dsl.compile(result.definition), "mermaid")
    assert blocks == [drawn], "README's mermaid block differs: run `make readme-graph`"


def test_readme_quickstart_is_the_two_make_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^make \w+", quickstart, flags=re.M)
    assert commands == ["make demo", "make test"]
