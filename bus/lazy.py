"""A package's public names imported from their modules on first use (PEP 562).

`bus` and `bus.eventsourcing` re-export names from many modules; importing them all
up front would load the transport, the database drivers and the daemon's logging for
a command that only reads a saga instance. Instead each package lists where its names
live, and the first `from bus import Service` imports only `bus.unitofwork.service`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_names(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level `__getattr__` and `__dir__` of `package`, whose public names
    live in the modules `homes` gives; a name once imported is kept in `namespace`
    (the package's `globals()`), so later lookups are plain attributes."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *homes})

    return __getattr__, __dir__
