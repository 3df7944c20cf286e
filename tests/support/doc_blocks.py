"""The fenced blocks of a Markdown page, for the tests that hold a page's examples true:
each block with its info string (```yaml invalid -> "yaml invalid"), in page order."""

from __future__ import annotations

import re
from pathlib import Path

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def fenced_blocks(page: Path) -> list[tuple[str, str]]:
    """(info string, body) of every fenced block of `page`."""
    return [(m.group(1).strip(), m.group(2)) for m in FENCE.finditer(page.read_text())]


def bodies(blocks: list[tuple[str, str]], info: str) -> list[str]:
    """The bodies of the blocks fenced with `info`."""
    return [body for fenced, body in blocks if fenced == info]


def with_output(blocks: list[tuple[str, str]], info: str) -> list[tuple[str, str]]:
    """(body, output) of each block fenced with `info` that a ```text block follows,
    the output being that text block's body."""
    return [
        (body, blocks[i + 1][1])
        for i, (fenced, body) in enumerate(blocks)
        if fenced == info and i + 1 < len(blocks) and blocks[i + 1][0] == "text"
    ]
