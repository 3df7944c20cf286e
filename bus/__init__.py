"""sagabus: declarative sagas, durable state and exactly-once effects on RabbitMQ.

The public API of the bus; handlers import from here.
"""

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
