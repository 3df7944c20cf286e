"""sagabus: declarative sagas, durable state and exactly-once effects on RabbitMQ.

The public API of the bus; handlers import from here. Each name is imported from its
module on first use (PEP 562), so `from bus import Service` does not load the
transport (aio-pika), the PostgreSQL driver or the daemon's logging and metrics: a
command that only reads the store starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bus.lazy import lazy_names

if TYPE_CHECKING:
    from bus.errors import (
        BrokerUnavailable,
        ConcurrencyError,
        ConfigurationError,
        ContractViolation,
        SagabusError,
        UnknownMessageType,
        UnknownVersion,
        Unroutable,
    )
    from bus.settings import Settings
    from bus.store import Store, Transaction, open_store
    from bus.unitofwork.endpoint import Endpoint, HandlerContext
    from bus.unitofwork.middleware import Middleware, Skip
    from bus.unitofwork.retry import RetryPolicy
    from bus.unitofwork.runtime import BackgroundTask, Bus
    from bus.unitofwork.service import Service
    from bus.wire.client import BusClient
    from bus.wire.contracts import Command, Event, Message, registry
    from bus.wire.envelope import Envelope
    from bus.wire.reply import NoReply

_HOMES: dict[str, str] = {
    "BackgroundTask": "bus.unitofwork.runtime",
    "BrokerUnavailable": "bus.errors",
    "Bus": "bus.unitofwork.runtime",
    "BusClient": "bus.wire.client",
    "Command": "bus.wire.contracts",
    "ConcurrencyError": "bus.errors",
    "ConfigurationError": "bus.errors",
    "ContractViolation": "bus.errors",
    "Endpoint": "bus.unitofwork.endpoint",
    "Envelope": "bus.wire.envelope",
    "Event": "bus.wire.contracts",
    "HandlerContext": "bus.unitofwork.endpoint",
    "Message": "bus.wire.contracts",
    "Middleware": "bus.unitofwork.middleware",
    "NoReply": "bus.wire.reply",
    "RetryPolicy": "bus.unitofwork.retry",
    "SagabusError": "bus.errors",
    "Service": "bus.unitofwork.service",
    "Settings": "bus.settings",
    "Skip": "bus.unitofwork.middleware",
    "Store": "bus.store",
    "Transaction": "bus.store",
    "UnknownMessageType": "bus.errors",
    "UnknownVersion": "bus.errors",
    "Unroutable": "bus.errors",
    "open_store": "bus.store",
    "registry": "bus.wire.contracts",
}
"""Each public name and the module it lives in."""

__all__ = [
    "BackgroundTask",
    "BrokerUnavailable",
    "Bus",
    "BusClient",
    "Command",
    "ConcurrencyError",
    "ConfigurationError",
    "ContractViolation",
    "Endpoint",
    "Envelope",
    "Event",
    "HandlerContext",
    "Message",
    "Middleware",
    "NoReply",
    "RetryPolicy",
    "SagabusError",
    "Service",
    "Settings",
    "Skip",
    "Store",
    "Transaction",
    "UnknownMessageType",
    "UnknownVersion",
    "Unroutable",
    "open_store",
    "registry",
]

if not TYPE_CHECKING:  # type checkers see the imports above, and only those names
    __getattr__, __dir__ = lazy_names(__name__, _HOMES, globals())
