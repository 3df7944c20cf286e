"""The checks of the project's configuration values, as lax as pydantic's and with its
messages, without pydantic: every command reads the configuration, and `sagabus
status` should not pay for a validation library to read two strings of it.

Each check takes a value from one layer (a TOML value, or a string from the
environment or `.env`) and returns it as its field's type, or raises `Invalid`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

WHOLE = re.compile(r"\s*([+-]?[0-9]+(?:_[0-9]+)*)(?:\.0+)?\s*")
"""A whole number as text: `7`, ` 7 `, `+7`, `1_000`, `7.0` (not `1e3`, not `7.5`)."""


class Invalid(ValueError):
    """A value its field cannot take; `at` is the place inside it (a list's index)."""

    def __init__(self, message: str, *at: int) -> None:
        super().__init__(message)
        self.message = message
        self.at = at


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("Input should be a valid string")
    return value


def texts(value: Any) -> list[str]:
    """A list of strings; one string is a comma-separated list
    (`SAGABUS_SERVICES=shop,billing`)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise Invalid("Input should be a valid list")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise Invalid("Input should be a valid string", index)
    return list(value)


def path_or_none(value: Any) -> Path | None:
    if value is None or isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise Invalid(f"Input is not a valid path for {Path}")
    return Path(value)


def whole(value: Any) -> int:
    """An integer from an integer, a bool, a whole float or the text of one."""
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise Invalid("Input should be a valid integer, got a number with a fractional part")
        return int(value)
    if isinstance(value, str):
        whole_number = WHOLE.fullmatch(value)
        if whole_number is None:
            raise Invalid("Input should be a valid integer, unable to parse string as an integer")
        return int(whole_number[1])
    raise Invalid("Input should be a valid integer")


def whole_within(low: int, high: int) -> Callable[[Any], int]:
    """`whole`, then `low <= value <= high`."""

    def check(value: Any) -> int:
        number = whole(value)
        if number < low:
            raise Invalid(f"Input should be greater than or equal to {low}")
        if number > high:
            raise Invalid(f"Input should be less than or equal to {high}")
        return number

    return check


def optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`check`, with None let through."""
    return lambda value: None if value is None else check(value)
