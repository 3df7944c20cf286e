"""The YAML examples of docs/saga-language.md are checked, so the page cannot go stale.

A block fenced ```yaml must validate without any diagnostic; a block fenced
```yaml invalid must give exactly the lines of the ```text block right after it
(the file is called saga.yaml there).
"""

from __future__ import annotations

import pytest
from dsl_support import REPO
from support.doc_blocks import bodies, fenced_blocks, with_output

import saga_dsl

DOC = REPO / "docs" / "saga-language.md"
BLOCKS = fenced_blocks(DOC)
VALID = bodies(BLOCKS, "yaml")
INVALID = with_output(BLOCKS, "yaml invalid")


def test_the_page_has_examples_of_both_kinds() -> None:
    assert len(VALID) >= 5
    assert len(INVALID) == len(bodies(BLOCKS, "yaml invalid")) >= 1


@pytest.mark.parametrize("body", VALID, ids=[f"valid-{i}" for i in range(len(VALID))])
def test_valid_example_validates_cleanly(body: str) -> None:
    result = saga_dsl.load(body, name="saga.yaml")
    assert [str(d) for d in result.diagnostics] == []
    saga_dsl.compile(result.definition)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "expected"), INVALID, ids=[f"invalid-{i}" for i in range(len(INVALID))]
)
def test_invalid_example_gives_the_documented_messages(body: str, expected: str) -> None:
    result = saga_dsl.load(body, name="saga.yaml")
    assert [str(d) for d in result.diagnostics] == expected.strip().splitlines()


def test_every_key_of_the_language_is_documented() -> None:
    text = DOC.read_text()
    keys = [
        "saga", "version", "description", "start", "correlate", "initial", "states", "any",
        "send", "publish", "on", "retry", "timeout", "compensate", "end",
        "if", "set", "goto", "until", "attempts", "after", "command", "event", "with",
    ]  # fmt: skip
    missing = [k for k in keys if f"`{k}" not in text]
    assert missing == []
