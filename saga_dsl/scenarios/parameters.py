"""`${ name }` in a scenario, replaced by the value of one row of its `cases`.

A string that is only `${ name }` becomes the value itself (a number stays a number);
inside longer text the value is written out. Nothing is evaluated: a placeholder names a
parameter, and any other `${ ... }` is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\$\{\s*([^}]*?)\s*\}")

Loc = tuple[int | str, ...]


class UnknownParameter(Exception):
    """A `${ ... }` naming no parameter of the row; `loc` is where it is written."""

    def __init__(self, loc: Loc, name: str, known: list[str]) -> None:
        shown = ", ".join(known) or "none: the scenario has no cases"
        super().__init__(f"${{ {name} }} names no parameter of the cases ({shown})")
        self.loc = loc


def fill(value: Any, row: Mapping[str, Any], loc: Loc = ()) -> Any:
    """`value` with every placeholder replaced from `row`; raises `UnknownParameter`."""
    if isinstance(value, str):
        return _fill_text(value, row, loc)
    if isinstance(value, dict):
        return {key: fill(item, row, (*loc, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, row, (*loc, index)) for index, item in enumerate(value)]
    return value


def _fill_text(text: str, row: Mapping[str, Any], loc: Loc) -> Any:
    if "${" not in text:
        return text
    for name in PLACEHOLDER.findall(text):
        if name not in row:
            raise UnknownParameter(loc, name, sorted(row))
    whole = PLACEHOLDER.fullmatch(text)
    if whole is not None:
        return row[whole.group(1)]
    return PLACEHOLDER.sub(lambda m: _text(row[m.group(1)]), text)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def case_name(name: str, row: Mapping[str, Any]) -> str:
    """The scenario's name for one row: filled in, or with the row appended."""
    if not row:
        return name
    if "${" in name:
        return str(_fill_text(name, row, ()))
    shown = ", ".join(f"{key}={_text(value)}" for key, value in row.items())
    return f"{name} [{shown}]"
