"""Field reads without CEL: `event.x` and `saga.x` read straight from the data.

Most expressions in a saga file are one field read (`${ saga.order_id }`,
`${ event.items }`). Evaluating one through CEL hands the whole root to the CEL library
first, and converts the result back, which costs far more than the read; a read taken
here gives a copy of the value CEL would give, so the library is only asked when it
could answer otherwise: a root that is not a plain dict, a missing field (CEL's error
says why), a value that is not plain JSON data (a tuple, bytes, a non-text key, a NaN),
an int outside int64 (CEL makes it a uint or a double), or a value big or deep enough
that CEL's answer (or its refusal) is worth its cost. One difference, on purpose: the
keys of a map keep their order (CEL's maps come back in an order that changes from run
to run).
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

FieldPath = tuple[str, str]
"""(root, field): `("saga", "order_id")` for `saga.order_id`."""

_FIELD_PATH = re.compile(r"\s*(event|saga)\s*\.\s*([A-Za-z_]\w*)\s*")
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
MAX_SIZE = 1 << 16
"""Largest value read here (characters plus elements, all levels); CEL reads bigger ones."""
MAX_DEPTH = 32
"""Deepest nesting of lists and maps read here."""

NOT_READ: Final = object()
"""What `read_field` gives when CEL has to evaluate the expression."""


def field_path(source: str) -> FieldPath | None:
    """(root, field) when `source` is one read of an `event` or `saga` field."""
    found = _FIELD_PATH.fullmatch(source)
    return None if found is None else (found.group(1), found.group(2))


def read_field(root: Any, name: str) -> Any:
    """A copy of `root[name]` when CEL would give that very value; `NOT_READ` otherwise."""
    if type(root) is not dict:
        return NOT_READ
    value = root.get(name, NOT_READ)
    kind = type(value)
    if kind is str:
        return value if len(value) <= MAX_SIZE else NOT_READ
    if kind is bool or value is None:
        return value
    if kind is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else NOT_READ
    if kind is float:
        return value if math.isfinite(value) else NOT_READ
    if kind is list or kind is dict:
        try:
            return _copied(value, 0, [MAX_SIZE])
        except _NotPlain:
            return NOT_READ
    return NOT_READ


class _NotPlain(Exception):
    """A value CEL may not hold unchanged, or one too big or deep to read here."""


def _copied(value: Any, depth: int, room: list[int]) -> Any:
    """A copy of `value` if it is JSON data that CEL holds unchanged (ints in int64,
    finite floats, text keys) within `MAX_DEPTH`, its size taken from `room[0]`;
    raises `_NotPlain` otherwise."""
    kind = type(value)
    if kind is str:
        room[0] -= len(value)
    elif kind is list or kind is dict:
        room[0] -= len(value)
        if depth == MAX_DEPTH or room[0] < 0:
            raise _NotPlain
        if kind is list:
            return [_copied(item, depth + 1, room) for item in value]
        copy = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            room[0] -= len(key)
            copy[key] = _copied(item, depth + 1, room)
        return copy
    elif kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _NotPlain
    elif kind is float:
        if not math.isfinite(value):
            raise _NotPlain
    elif kind is not bool and value is not None:
        raise _NotPlain
    if room[0] < 0:
        raise _NotPlain
    return value
