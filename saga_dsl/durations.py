"""Durations as saga files write them: a whole number and a unit, `500ms` to `1d`."""

from __future__ import annotations

import re
from datetime import timedelta

UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}

PATTERN = r"^[0-9]+(ms|s|m|h|d)$"
"""The JSON Schema pattern of a duration."""

MAX_DURATION = timedelta(days=365)
"""Longest duration accepted; a longer timer is almost surely a typo."""

_DURATION = re.compile(PATTERN)


class DurationError(ValueError):
    """A duration that does not parse or is out of range."""


def parse_duration(text: object) -> timedelta:
    """`"10s"` -> `timedelta(seconds=10)`; raises `DurationError` with a fix-it message."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise DurationError(f"expected a duration such as '10s', got {_shown(text)}")
    if isinstance(text, (int, float)):
        raise DurationError(f"duration {text!r} needs a unit: write '{text}s' or '{text}ms'")
    match = _DURATION.match(text.strip())
    if match is None:
        raise DurationError(
            f"bad duration {text!r}: write a whole number and one unit of "
            f"{', '.join(UNITS)}, e.g. '500ms', '10s', '5m'"
        )
    unit = match.group(1)
    value = int(text.strip()[: -len(unit)]) * UNITS[unit]
    if value <= timedelta(0):
        raise DurationError(f"duration {text!r} must be longer than zero")
    if value > MAX_DURATION:
        raise DurationError(f"duration {text!r} is longer than {MAX_DURATION.days} days")
    return value


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling: `timedelta(seconds=90)` -> `"90s"`."""
    for unit, size in reversed(UNITS.items()):
        if value % size == timedelta(0):
            return f"{value // size}{unit}"
    return f"{value // UNITS['ms']}ms"


def _shown(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
