"""Durations written the way people write them: `500ms`, `1.5s`, `5m`, `2h`, `1d`.

One grammar for every duration of the project: a number (a decimal fraction is fine)
and one unit of ms, s, m, h or d, which must come to a whole number of milliseconds
(`1.5s` yes, `1.5ms` no). Two modes read it:

- `parse_duration` (Python code and settings: retry delays, timeouts) also takes a
  bare number, or numeral, as seconds, and zero;
- `parse_saga_duration` (saga files, strict) wants the unit, and a duration longer
  than zero and at most 365 days; a typo there would arm a timer nobody sees.

So `RetryPolicy(delays=["1.5s"])` and `after: 1.5s` both mean one and a half seconds.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from bus.errors import ConfigurationError

UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

PATTERN = r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$"
"""The JSON Schema pattern of a strict (saga file) duration."""

MAX_SAGA_DURATION = timedelta(days=365)
"""Longest duration a saga file may write; a longer timer is almost surely a typo."""

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$")
_STRICT = re.compile(PATTERN)
_HOW = "write a number and one unit of ms, s, m, h, d, e.g. '500ms', '1.5s', '5m'"


class DurationError(ConfigurationError, ValueError):
    """A duration that does not parse or is out of range; the message says the fix."""


def parse_duration(text: str | float) -> float:
    """Seconds in `text` (`"200ms"` -> 0.2); a bare number (or numeral) is seconds."""
    if isinstance(text, bool):
        raise DurationError(f"expected a duration such as '10s', got {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise DurationError(f"duration must not be negative: {text}")
        return float(text)
    return _milliseconds(text, unit_required=False) / 1000


def parse_saga_duration(text: object) -> timedelta:
    """Strict mode: `"10s"` -> `timedelta(seconds=10)`; the unit is required."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise DurationError(f"expected a duration such as '10s', got {_shown(text)}")
    if isinstance(text, int | float):
        raise DurationError(f"duration {text!r} needs a unit: write '{text}s' or '{text}ms'")
    value = timedelta(milliseconds=_milliseconds(text, unit_required=True))
    if value <= timedelta(0):
        raise DurationError(f"duration {text!r} must be longer than zero")
    if value > MAX_SAGA_DURATION:
        raise DurationError(
            f"duration {text!r} is longer than {MAX_SAGA_DURATION.days} days"
        )
    return value


def format_duration(value: float | timedelta) -> str:
    """The shortest exact spelling: 0.2 -> `200ms`, 60 -> `1m`, 90 -> `90s`."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    ms = round(seconds * 1000)
    for unit in ("d", "h", "m", "s"):
        if ms and ms % UNIT_MS[unit] == 0:
            return f"{ms // UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


def _milliseconds(text: str, *, unit_required: bool) -> int:
    match = _STRICT.match(text.strip()) if unit_required else _DURATION.match(text)
    if match is None:
        raise DurationError(f"bad duration {text!r}: {_HOW}")
    exact = Decimal(match[1]) * UNIT_MS[match[2] or "s"]
    if exact != exact.to_integral_value():
        raise DurationError(
            f"bad duration {text!r}: it must come to whole milliseconds"
        )
    return int(exact)


def _shown(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
