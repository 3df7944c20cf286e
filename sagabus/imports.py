"""Importing the user's code the way uvicorn and celery do.

With the working directory first on `sys.path` (`sagabus.syspath`; the project's
directory, the one holding its pyproject.toml, right after it), `sagabus run
--handlers myservices` serves `./myservices.py`. A target is a module, a package
(with every module beneath it), or `module:attribute` naming a `Service` or a list
of them. Every failure is one line: "no such module" only when the named module is
missing; an exception raised while importing the user's module names their file
and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

from bus.discovery import import_package, services_in
from bus.errors import ConfigurationError
from bus.unitofwork.service import Service


def import_modules(target: str) -> list[ModuleType]:
    """Imports the module part of `target` (`module` or `module:attribute`) and, when
    it is a package, every module beneath it (their contracts register themselves)."""
    module, _, _ = target.partition(":")
    if not module:
        raise ConfigurationError(f"cannot import {target!r}: no module named before ':'")
    return import_package(module)


def import_contracts(targets: list[str]) -> None:
    """Imports each module or package of `targets`, so their contracts register."""
    for target in targets:
        import_modules(target)


def load_services(target: str) -> list[Service]:
    """The services `target` names: every `Service` of a module or package, or the
    `Service` (or list of them) at `module:attribute`."""
    modules = import_modules(target)
    module, _, attribute = target.partition(":")
    if not attribute:
        return services_in(modules)
    value: object = modules[0]
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigurationError(
                f"cannot import {target!r}: module {module!r} has no attribute {attribute!r}"
            ) from None
    return _as_services(target, value)


def _as_services(target: str, value: object) -> list[Service]:
    if isinstance(value, Service):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        items = list(value)
        if items and all(isinstance(item, Service) for item in items):
            return [item for item in items if isinstance(item, Service)]
    raise ConfigurationError(
        f"{target!r} is a {type(value).__name__}, not a Service or a list of Services"
    )
