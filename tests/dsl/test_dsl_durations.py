"""Durations: one grammar (a number and a unit), read strictly in saga files."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bus.durations import (
    DurationError,
    format_duration,
    parse_duration,
    parse_saga_duration,
)
from bus.unitofwork.retry import RetryPolicy
from saga_dsl.schema import Duration


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
    assert parse_saga_duration(text) == value
    assert format_duration(value) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (10, "needs a unit"),
        ("10", "bad duration"),
        ("1.5ms", "whole milliseconds"),
        ("10 seconds", "bad duration"),
        ("10 s", "bad duration"),
        ("0s", "longer than zero"),
        ("400d", "longer than 365 days"),
        (None, "expected a duration"),
        (True, "expected a duration"),
    ],
)
def test_bad_durations_say_how_to_write_them(text: object, message: str) -> None:
    with pytest.raises(DurationError, match=message):
        parse_saga_duration(text)


def test_format_picks_the_largest_exact_unit() -> None:
    assert format_duration(timedelta(seconds=90)) == "90s"
    assert format_duration(timedelta(minutes=120)) == "2h"
    assert format_duration(1.5) == "1500ms"


def test_a_fraction_means_the_same_in_python_and_in_a_saga_file() -> None:
    policy = RetryPolicy(attempts=2, delays=["1.5s"])
    assert policy.delay_after(1) == 1.5
    assert parse_saga_duration("1.5s") == timedelta(seconds=1.5)
    assert parse_duration("1.5s") == 1.5


def test_the_lenient_mode_takes_bare_seconds_and_zero() -> None:
    assert parse_duration("2") == 2.0
    assert parse_duration(0) == 0.0
    with pytest.raises(DurationError, match="negative"):
        parse_duration(-1)
    with pytest.raises(DurationError, match="whole milliseconds"):
        RetryPolicy(attempts=2, delays=["1.5ms"])


def test_the_schema_pattern_accepts_what_strict_mode_accepts() -> None:
    import re

    from pydantic import TypeAdapter

    pattern = TypeAdapter(Duration).json_schema()["pattern"]
    for text in ("1.5s", "500ms", "1d"):
        assert re.fullmatch(pattern, text)
    assert not re.fullmatch(pattern, "10")
