"""docs/testing.md cannot go stale: its Python blocks run in order in one namespace,
then every `test_*` coroutine they define runs, as pytest would run it."""

from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "testing.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def test_every_example_of_the_testing_page_runs_and_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)  # the page names `sagas` and `handlers` as a user's project would
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) >= 8
    namespace: dict[str, object] = {"__name__": "testing_doc"}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"{DOC.name} block {number}", "exec"), namespace)
    tests = {
        name: fn for name, fn in namespace.items()
        if name.startswith("test_") and inspect.iscoroutinefunction(fn)
    }
    assert len(tests) >= 10
    for name, test in tests.items():
        try:
            asyncio.run(test())
        except Exception as exc:
            raise AssertionError(f"{DOC.name}: {name} failed: {exc!r}") from exc
