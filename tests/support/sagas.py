"""Saga files rewritten for a test: read with the project's own YAML reader
(`saga_dsl.positioned_yaml`, YAML 1.2, so `on:` stays a key), changed as plain data,
written back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from saga_dsl.diagnostics import Report
from saga_dsl.positioned_yaml import parse

REPO = Path(__file__).resolve().parent.parent.parent
ORDER_SAGA = REPO / "sagas" / "order_processing.yaml"


def read_saga(path: Path = ORDER_SAGA) -> dict[str, Any]:
    """The saga file at `path` as plain data; fails on a file that does not read."""
    report = Report(str(path))
    document = parse(path.read_text(), report)
    if document is None or not isinstance(document.data, dict):
        problems = "; ".join(d.message for d in report.sorted())
        raise AssertionError(f"{path} does not read: {problems}")
    data: dict[str, Any] = document.data
    return data


def rewrite_saga(
    directory: Path, change: Callable[[dict[str, Any]], None], source: Path = ORDER_SAGA
) -> Path:
    """Writes the saga at `source` into `directory` (same file name) after `change` has
    edited its data; returns the directory."""
    saga = read_saga(source)
    change(saga)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / source.name).write_text(yaml.safe_dump(saga, sort_keys=False))
    return directory


def set_every_wait(node: Any, after: str) -> None:
    """Sets every `after:` (retries and timeouts) below `node` to `after`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "after":
                node[key] = after
            else:
                set_every_wait(value, after)
    elif isinstance(node, list):
        for item in node:
            set_every_wait(item, after)
