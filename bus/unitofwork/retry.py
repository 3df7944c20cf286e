"""Retry policy of an endpoint: how often a failing handler runs and how long to wait.

A failed delivery is republished to the retry queue of its delay tier (a queue with a
fixed message TTL that dead-letters back to the origin queue), so a retry waits on the
broker, not in a hot loop and not in the consumer's memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bus.durations import parse_duration
from bus.errors import ConfigurationError

DEFAULT_DELAYS = (1.0, 10.0, 60.0, 600.0)
"""Delay tiers (seconds) of the default policy: 1 s, 10 s, 1 min, 10 min."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """attempts: times the handler runs at most, the first run included (default 5;
    1 means no retry). delays: wait before the 1st, 2nd, ... retry, as seconds or
    duration strings (`"200ms"`, `"10s"`); the last one repeats."""

    attempts: int = 5
    delays: Sequence[float | str] = field(default=DEFAULT_DELAYS)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError(f"retry attempts must be at least 1, not {self.attempts}")
        delays = tuple(parse_duration(d) for d in self.delays)
        if self.attempts > 1 and not delays:
            raise ConfigurationError("a retry policy with attempts > 1 needs delays")
        if any(d <= 0 for d in delays):
            raise ConfigurationError("retry delays must be positive")
        object.__setattr__(self, "delays", delays)

    def delay_after(self, failures: int) -> float | None:
        """Seconds to wait after the `failures`-th failed run, or None: dead-letter it."""
        if failures >= self.attempts:
            return None
        seconds = tuple(float(d) for d in self.delays)
        return seconds[min(failures, len(seconds)) - 1]

    @property
    def tiers(self) -> tuple[float, ...]:
        """The distinct delays this policy can use, each one a retry queue."""
        used = {self.delay_after(n) for n in range(1, self.attempts)}
        return tuple(sorted(d for d in used if d is not None))
