"""Durations: a whole number and a unit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from saga_dsl.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("10s", timedelta(seconds=10)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
    ],
)
def test_each_unit_parses(text: str, value: timedelta) -> None:
    assert parse_duration(text) == value
    assert format_duration(value) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (10, "needs a unit"),
        ("10", "bad duration"),
        ("1.5s", "bad duration"),
        ("10 seconds", "bad duration"),
        ("0s", "longer than zero"),
        ("400d", "longer than 365 days"),
        (None, "expected a duration"),
        (True, "expected a duration"),
    ],
)
def test_bad_durations_say_how_to_write_them(text: object, message: str) -> None:
    with pytest.raises(DurationError, match=message):
        parse_duration(text)


def test_format_picks_the_largest_exact_unit() -> None:
    assert format_duration(timedelta(seconds=90)) == "90s"
    assert format_duration(timedelta(minutes=120)) == "2h"
