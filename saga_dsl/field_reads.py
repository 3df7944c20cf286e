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
    if (kind is list or kind is dict) and _plain(value):
        return _copied(value)
    return NOT_READ


def _plain(value: Any) -> bool:
    """Whether `value` is JSON data that CEL holds unchanged (ints in int64, finite
    floats, text keys), within `MAX_SIZE` and `MAX_DEPTH`."""
    stack = [(value, 0)]
    size = 0
    while stack:
        node, depth = stack.pop()
        kind = type(node)
        if kind is str:
            size += len(node)
        elif kind is list or kind is dict:
            if depth == MAX_DEPTH:
                return False
            size += len(node)
            if kind is dict:
                if any(type(key) is not str for key in node):
                    return False
                size += sum(map(len, node))
            stack.extend((item, depth + 1) for item in (node.values() if kind is dict else node))
        elif kind is int:
            if not _INT64_MIN <= node <= _INT64_MAX:
                return False
        elif kind is float:
            if not math.isfinite(node):
                return False
        elif kind is not bool and node is not None:
            return False
        if size > MAX_SIZE:
            return False
    return True


def _copied(value: Any) -> Any:
    """A copy of plain JSON data (checked by `_plain`: not deeper than `MAX_DEPTH`)."""
    if type(value) is list:
        return [_copied(item) for item in value]
    if type(value) is dict:
        return {key: _copied(item) for key, item in value.items()}
    return value
