"""Errors a user of the bus can meet, each with a message fit for one line on stderr."""


class SagabusError(Exception):
    """Base of every error sagabus raises on purpose."""


class ConfigurationError(SagabusError):
    """A setting, URL or file is wrong; fixing the input fixes it."""


class UnknownMessageType(SagabusError):
    """A message type name that no registered contract has."""


class ContractViolation(SagabusError):
    """A payload that does not satisfy its contract."""


class UnknownVersion(SagabusError):
    """A message of a schema version that no upcaster leads from to the current one."""


class ConcurrencyError(SagabusError):
    """An optimistic version check failed: someone else wrote first."""


class DuplicateInstance(SagabusError):
    """A saga instance with this correlation value exists already."""

    def __init__(self, message: str, *, raced: bool = False) -> None:
        super().__init__(message)
        self.raced = raced
        """The instance was created by a transaction that committed while this one's
        insert waited for it (PostgreSQL): a duplicate at the same time, not one after."""


class Unroutable(SagabusError):
    """A command that no queue is bound for (returned by the broker)."""


class BrokerUnavailable(SagabusError):
    """RabbitMQ cannot be reached."""
