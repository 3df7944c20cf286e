"""The keyword options of sending and publishing, written once for every sender.

`BusClient.send`/`publish`, `HandlerContext.send`/`publish` and `BusHarness.send`/`publish`
take `**options` typed by these, so a type checker holds every caller to the same names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict

from bus.wire.schedule import due_time


class SendOptions(TypedDict, total=False):
    """correlation_id: the conversation the message belongs to. headers: extra headers
    the message carries."""

    correlation_id: str | None
    headers: Mapping[str, Any] | None


class TimedSendOptions(SendOptions, total=False):
    """delay (seconds or a timedelta) or at (an aware datetime): the message is sent
    then instead, durably, by the daemon's scheduler."""

    delay: float | timedelta | None
    at: datetime | None


def check(options: Mapping[str, Any], allowed: type[SendOptions]) -> None:
    """Raises TypeError for an option the sender does not take, as a plain keyword
    parameter would: a misspelt `delay` must not send the message at once."""
    unknown = options.keys() - allowed.__annotations__.keys()
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")


def due(options: TimedSendOptions) -> datetime | None:
    """When the message with these options is due; None: now."""
    return due_time(delay=options.get("delay"), at=options.get("at"))
