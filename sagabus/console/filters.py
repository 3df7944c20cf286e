"""The instance filter of the console's list and of its actions on a selection, read
from a query string or a form (`where_saga`, ... in a form, beside the action's own
fields)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

from bus.store.base import SagaStatus
from bus.store.browse import SagaFilter

STATUSES: tuple[str, ...] = get_args(SagaStatus)
FIELDS = ("saga", "version", "state", "status", "correlation")


class BadFilter(ValueError):
    """A filter value the console does not take (the message says which)."""


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
