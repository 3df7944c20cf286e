"""sagabus: declarative sagas, durable state and exactly-once effects on RabbitMQ.

The public API of the bus; handlers import from here.
"""

from bus.client import BusClient
from bus.contracts import Command, Event, Message, registry
from bus.endpoint import Endpoint, HandlerContext
from bus.envelope import Envelope
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
from bus.retry import RetryPolicy
from bus.runtime import BackgroundTask, Bus
from bus.service import Service
from bus.settings import Settings
from bus.store import Store, Transaction, open_store

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
    "RetryPolicy",
    "SagabusError",
    "Service",
    "Settings",
    "Store",
    "Transaction",
    "UnknownMessageType",
    "UnknownVersion",
    "Unroutable",
    "open_store",
    "registry",
]
