"""A `SagaFilter` read from text: the console's list filter and its actions on a
selection (a query string, or a form's `where_saga`, ... beside the action's own
fields), and the CLI's `--where KEY=VALUE` (`where_items`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from difflib import get_close_matches
from typing import get_args

from bus.store.base import SagaStatus
from bus.store.browse import SagaFilter

STATUSES: tuple[str, ...] = get_args(SagaStatus)
FIELDS = ("saga", "version", "state", "status", "correlation")


class BadFilter(ValueError):
    """A filter value that is not taken (the message says which)."""


def saga_filter(values: Mapping[str, str], prefix: str = "") -> SagaFilter:
    """The filter named by `values` (`prefix` + each field name); empty means any."""

    def text(name: str) -> str | None:
        value = values.get(prefix + name, "").strip()
        return value or None

    status = text("status")
    if status is not None and status not in STATUSES:
        raise BadFilter(f"status must be one of {', '.join(STATUSES)}")
    version = text("version")
    if version is not None and not version.isdigit():
        raise BadFilter("version is a whole number")
    return SagaFilter(
        saga=text("saga"),
        version=None if version is None else int(version),
        state=text("state"),
        status=status,  # type: ignore[arg-type]  # checked against STATUSES above
        correlation=text("correlation"),
    )


def filter_values(where: SagaFilter) -> dict[str, str]:
    """Each field of `where` as form text ("" for any)."""
    values = {name: getattr(where, name) for name in FIELDS}
    return {name: "" if value is None else str(value) for name, value in values.items()}


def where_items(items: Sequence[str]) -> SagaFilter:
    """The filter of `KEY=VALUE` items (`saga=order_processing`, `status=parked`); a key
    given twice, an unknown key or an item without `=` is a `BadFilter`."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not value.strip():
            raise BadFilter(f"--where takes KEY=VALUE, not {item!r}")
        if key not in FIELDS:
            close = get_close_matches(key, FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BadFilter(f"--where: unknown key {key!r}{hint}; keys: {', '.join(FIELDS)}")
        if key in values:
            raise BadFilter(f"--where: {key!r} given twice")
        values[key] = value
    return saga_filter(values)
