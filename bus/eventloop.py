"""The event loop a process runs on: uvloop when it is installed (the `fast` extra,
`pip install 'sagabus[fast]'`), asyncio's own otherwise.

uvloop runs the same asyncio programs with less CPU per callback, per future and per
socket read, which is most of what a delivery costs the daemon's loop thread
(docs/performance.md). Nothing else changes: the same code, the same durability.
`SAGABUS_EVENT_LOOP=asyncio` keeps asyncio's loop even when uvloop is installed;
`SAGABUS_EVENT_LOOP=uvloop` requires uvloop (a `ConfigurationError` without it).
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Coroutine
from types import ModuleType
from typing import Any, Literal, TypeVar, cast

from bus.errors import ConfigurationError

ENV = "SAGABUS_EVENT_LOOP"

LoopName = Literal["uvloop", "asyncio"]

T = TypeVar("T")


def chosen(setting: str | None = None) -> LoopName:
    """The loop `run` uses: `setting` (default: `SAGABUS_EVENT_LOOP`, else `auto`) is
    `auto` (uvloop when installed), `uvloop` or `asyncio`."""
    wanted = (setting if setting is not None else os.environ.get(ENV, "auto")).strip().lower()
    if wanted in ("", "auto"):
        return "uvloop" if _uvloop() is not None else "asyncio"
    if wanted == "asyncio":
        return "asyncio"
    if wanted == "uvloop":
        if _uvloop() is None:
            raise ConfigurationError(
                f"{ENV}=uvloop but uvloop is not installed: pip install 'sagabus[fast]'"
            )
        return "uvloop"
    raise ConfigurationError(f"{ENV} must be auto, uvloop or asyncio, not {wanted!r}")


def run(main: Coroutine[Any, Any, T], *, loop: LoopName | None = None) -> T:
    """`asyncio.run(main)` on the chosen loop (see `chosen`)."""
    if (loop or chosen()) == "uvloop":
        module = _uvloop()
        assert module is not None
        return cast(T, module.run(main))
    return asyncio.run(main)


def running() -> str:
    """The name of the running loop's implementation: `uvloop` or `asyncio`."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"


def _uvloop() -> ModuleType | None:
    try:
        return importlib.import_module("uvloop")
    except ImportError:
        return None
