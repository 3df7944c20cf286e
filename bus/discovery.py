"""Finding the user's code: a package imported with every module beneath it, and the
`Service` instances defined in those modules.

Apart from `bus.daemon` (which serves what is found here), so that a command that only
imports the user's contracts does not load the transport, metrics and logging.
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from bus.errors import ConfigurationError
from bus.unitofwork.service import Service


def import_package(name: str) -> list[ModuleType]:
    """Imports module `name` and, when it is a package, every module beneath it.

    Raises `ConfigurationError` in one line: "no such module" only when `name` itself
    is missing; an exception raised inside a module names that module's file and line."""
    try:
        root = importlib.import_module(name)
    except Exception as exc:
        raise ConfigurationError(_import_failure(name, exc)) from None
    modules = [root]
    path = getattr(root, "__path__", None)
    if path is not None:
        for info in pkgutil.walk_packages(path, prefix=f"{name}."):
            try:
                modules.append(importlib.import_module(info.name))
            except Exception as exc:
                raise ConfigurationError(_import_failure(info.name, exc)) from None
    return modules


def _import_failure(name: str, exc: Exception) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name is not None and (
        name == exc.name or name.startswith(f"{exc.name}.")
    ):
        return f"cannot import {name!r}: no such module"
    where = error_location(exc)
    at = f" ({where})" if where else ""
    return f"cannot import {name!r}: {type(exc).__name__}: {exc}{at}"


def error_location(exc: BaseException) -> str | None:
    """`file:line` where `exc` was raised, in the code being imported: a syntax error's
    own position, else the innermost frame in the working directory (the user's code,
    not a library it called), else the innermost one outside the import machinery."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{_shown_path(exc.filename)}:{exc.lineno}"
    frames = [
        frame for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<frozen ")
    ]
    own = [frame for frame in frames if _relative(frame.filename) is not None]
    chosen = (own or frames)[-1:]
    if not chosen:
        return None
    return f"{_shown_path(chosen[0].filename)}:{chosen[0].lineno}"


def _relative(filename: str) -> str | None:
    """`filename` relative to the working directory, or None when outside it (or in a
    virtualenv inside it)."""
    try:
        relative = Path(filename).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return None
    return None if "site-packages" in relative.parts else str(relative)


def _shown_path(filename: str) -> str:
    return _relative(filename) or filename


def services_in(modules: Iterable[ModuleType]) -> list[Service]:
    """Every `Service` instance defined at the top level of `modules`, once each."""
    found: dict[int, Service] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Service):
                found.setdefault(id(value), value)
    return list(found.values())


__all__ = ["error_location", "import_package", "services_in"]
