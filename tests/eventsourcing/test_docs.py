"""docs/event-sourcing.md cannot go stale: its Python blocks run, in order, here."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "event-sourcing.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def test_every_python_block_of_the_event_sourcing_page_runs() -> None:
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "event_sourcing_doc"}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{DOC.name} block {number}", "exec")
        exec(code, namespace)
