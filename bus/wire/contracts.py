"""Message contracts: `Command` and `Event` base classes, the registry, upcasters.

A contract is a pydantic model. Its type name is the class name unless the class sets
`__message_type__`; its schema version is `__version__` (default 1). Upcasters turn the
payload of an older version into the next one, so a reader only ever sees the current
shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from bus.errors import ContractViolation, UnknownMessageType, UnknownVersion

MessageKind = Literal["command", "event"]
Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class Message(BaseModel):
    """Base of every contract. Payloads are immutable once built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    __message_type__: ClassVar[str | None] = None
    __version__: ClassVar[int] = 1
    __kind__: ClassVar[MessageKind]

    @classmethod
    def message_type(cls) -> str:
        return cls.__message_type__ or cls.__name__

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        is_base = cls.__module__ == __name__
        if hasattr(cls, "__kind__") and not is_base and not cls.__dict__.get("__abstract__"):
            registry.register(cls)


class Command(Message):
    """An instruction to exactly one owner (routed on `sagabus.commands`)."""

    __kind__: ClassVar[MessageKind] = "command"


class Event(Message):
    """A fact that happened, for any number of subscribers (`sagabus.events`)."""

    __kind__: ClassVar[MessageKind] = "event"


class Registry:
    """Maps type names to contracts and holds the upcasters of each type."""

    def __init__(self) -> None:
        self._types: dict[str, type[Message]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, contract: type[Message]) -> type[Message]:
        name = contract.message_type()
        known = self._types.get(name)
        same_definition = known is not None and (
            (known.__module__, known.__qualname__) == (contract.__module__, contract.__qualname__)
        )
        if known is not None and known is not contract and not same_definition:
            known_at = f"{known.__module__}.{known.__qualname__}"
            raise ValueError(f"message type {name!r} is registered already by {known_at}")
        self._types[name] = contract
        return contract

    def upcaster(self, message_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorator: registers a function turning `from_version` into `from_version + 1`."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(message_type, from_version)] = fn
            return fn

        return decorate

    def has_upcaster(self, message_type: str, from_version: int) -> bool:
        """Whether `from_version` of `message_type` can be brought one version up."""
        return (message_type, from_version) in self._upcasters

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[type[Message]]:
        return iter(self._types.values())

    def names(self) -> list[str]:
        return sorted(self._types)

    def get(self, name: str) -> type[Message]:
        try:
            return self._types[name]
        except KeyError:
            raise UnknownMessageType(f"unknown message type {name!r}") from None

    def fields(self, name: str) -> set[str]:
        return set(self.get(name).model_fields)

    def upcast(self, name: str, version: int, payload: Payload) -> Payload:
        """Brings `payload` of `version` up to the contract's current version."""
        current = self.get(name).__version__
        if version > current:
            raise UnknownVersion(
                f"{name} version {version} is newer than the known version {current}"
            )
        while version < current:
            step = self._upcasters.get((name, version))
            if step is None:
                raise UnknownVersion(f"no upcaster for {name} from version {version}")
            payload = step(payload)
            version += 1
        return payload

    def parse(self, name: str, version: int, payload: Mapping[str, Any]) -> Message:
        """Upcasts and validates a payload into its contract model."""
        contract = self.get(name)
        data = self.upcast(name, version, dict(payload))
        try:
            return contract.model_validate(data)
        except ValidationError as exc:
            raise ContractViolation(f"{name}: {_first_errors(exc)}") from None


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


registry = Registry()
"""The process-wide registry: every subclass of `Command` or `Event` joins it when defined."""


