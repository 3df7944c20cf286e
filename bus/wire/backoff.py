"""A pause that doubles with every failure in a row: the RabbitMQ transport's reconnect
and the pipeline's commit retry wait this way."""

from __future__ import annotations


class Backoff:
    """`first` seconds after the first failure, doubled with every failure in a row, at
    most `longest`; a success starts again at `first`."""

    def __init__(self, first: float, longest: float) -> None:
        self._first = first
        self._longest = longest
        self._failures = 0

    def failed(self) -> float:
        """One more failure in a row: the seconds to pause."""
        self._failures += 1
        return float(min(self._first * 2 ** (self._failures - 1), self._longest))

    def succeeded(self) -> None:
        self._failures = 0
