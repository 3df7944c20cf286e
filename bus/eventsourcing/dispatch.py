"""Methods marked as the reaction to one event type, collected per class.

`Aggregate` (`@applies`) and `Projection` (`@on`) both route an event to the method
marked for its type; this module is the marking and the collecting they share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from bus.wire.contracts import Event

F = TypeVar("F", bound=Callable[..., Any])

_marked: dict[object, type[Event]] = {}


def mark(event_type: type[Event]) -> Callable[[F], F]:
    """Decorator: marks a method as the one that takes events of `event_type`."""
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        raise TypeError(f"{event_type!r} is not an Event contract")

    def decorate(fn: F) -> F:
        _marked[fn] = event_type
        return fn

    return decorate


def dispatch_table(cls: type) -> dict[type[Event], str]:
    """Event type -> name of the marked method, over `cls` and its bases (a subclass's
    method wins); two methods of one class marked for one type are refused."""
    table: dict[type[Event], str] = {}
    for klass in reversed(cls.__mro__):
        own: dict[type[Event], str] = {}
        for name, attr in vars(klass).items():
            event_type = _marked.get(attr) if callable(attr) else None
            if event_type is None:
                continue
            if event_type in own:
                raise TypeError(
                    f"{klass.__qualname__}: both {own[event_type]} and {name} are marked "
                    f"for {event_type.message_type()}"
                )
            own[event_type] = name
        table.update(own)
    return table
