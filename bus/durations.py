"""Durations written the way people write them: `500ms`, `10s`, `5m`, `2h`, `1d`."""

from __future__ import annotations

import re

from bus.errors import ConfigurationError

UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(text: str | float) -> float:
    """Seconds in `text` (`"200ms"` -> 0.2); a bare number (or numeral) is seconds."""
    if isinstance(text, int | float):
        if text < 0:
            raise ConfigurationError(f"duration must not be negative: {text}")
        return float(text)
    match = _DURATION.match(text)
    if match is None:
        raise ConfigurationError(
            f"not a duration: {text!r} (write e.g. 500ms, 10s, 5m, 2h, 1d)"
        )
    return float(match[1]) * UNIT_MS[match[2] or "s"] / 1000


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 0.2 -> `200ms`, 60 -> `1m`, 90 -> `90s`."""
    ms = round(seconds * 1000)
    for unit in ("d", "h", "m", "s"):
        if ms and ms % UNIT_MS[unit] == 0:
            return f"{ms // UNIT_MS[unit]}{unit}"
    return f"{ms}ms"
