"""The envelope: what travels with every message, independent of the transport.

On RabbitMQ, `message_id`, `correlation_id`, `type` and `timestamp` are AMQP properties,
the body is the JSON payload, and `causation_id`, `version`, `traceparent` and the
user's own headers are AMQP headers (DESIGN section 2). This module is pure: it builds,
encodes and decodes envelopes and never touches the network.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # annotations only: the store reads and writes envelopes without pydantic
    from bus.wire.contracts import Message, MessageKind, Payload

CONTENT_TYPE = "application/json"
RESERVED_HEADERS = frozenset({"causation_id", "version", "traceparent", "kind"})


class PoisonMessage(Exception):
    """A delivery that no retry can fix; `reason` goes into the dead-letter headers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message: its type, payload and the ids that tie it to its conversation."""

    type: str
    kind: MessageKind
    payload: Payload
    message_id: str = field(default_factory=new_id)
    correlation_id: str | None = None
    causation_id: str | None = None
    timestamp: datetime = field(default_factory=utcnow)
    version: int = 1
    traceparent: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        message: Message,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> Envelope:
        """Wraps a contract instance."""
        return cls(
            type=message.message_type(),
            kind=message.__kind__,
            payload=message.model_dump(mode="json"),
            correlation_id=correlation_id,
            causation_id=causation_id,
            version=message.__version__,
            traceparent=traceparent,
            headers=dict(headers or {}),
        )

    def caused_by(self, cause: Envelope) -> Envelope:
        """This envelope as a consequence of `cause`: its correlation and trace flow on."""
        return replace(
            self,
            correlation_id=self.correlation_id or cause.correlation_id,
            causation_id=cause.message_id,
            traceparent=self.traceparent or cause.traceparent,
        )

    def body(self) -> bytes:
        return orjson.dumps(self.payload)

    def amqp_headers(self) -> dict[str, Any]:
        """The AMQP headers table of this envelope (user headers plus reserved ones)."""
        headers: dict[str, Any] = {
            k: v for k, v in self.headers.items() if k not in RESERVED_HEADERS
        }
        headers["version"] = self.version
        headers["kind"] = self.kind
        if self.causation_id:
            headers["causation_id"] = self.causation_id
        if self.traceparent:
            headers["traceparent"] = self.traceparent
        return headers


MAX_NESTING = 64
"""Deepest JSON nesting a payload may have; deeper bodies are poison, not recursion bombs."""


def decode(
    *,
    body: bytes,
    message_id: str | None,
    type_: str | None,
    correlation_id: str | None,
    timestamp: datetime | None,
    headers: Mapping[str, Any] | None,
    default_kind: MessageKind = "event",
    max_body_bytes: int = 1 << 20,
) -> Envelope:
    """Builds an envelope from the parts of a delivery, or raises `PoisonMessage`."""
    if len(body) > max_body_bytes:
        raise PoisonMessage(f"body of {len(body)} bytes exceeds the limit of {max_body_bytes}")
    if not message_id:
        raise PoisonMessage("missing message_id")
    if not type_:
        raise PoisonMessage("missing type")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PoisonMessage(f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PoisonMessage(f"body is JSON {type(payload).__name__}, not an object")
    if _depth(payload) > MAX_NESTING:
        raise PoisonMessage(f"body nests deeper than {MAX_NESTING} levels")
    hdrs: Mapping[str, Any] = headers or {}
    version = hdrs.get("version", 1)
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise PoisonMessage(f"header version is not an integer: {version!r}") from None
    kind = hdrs.get("kind", default_kind)
    if isinstance(kind, bytes):
        kind = kind.decode("utf-8", "replace")
    if kind not in ("command", "event"):
        raise PoisonMessage(f"header kind must be 'command' or 'event', not {kind!r}")
    return Envelope(
        type=type_,
        kind=kind,
        payload=payload,
        message_id=message_id,
        correlation_id=correlation_id or None,
        causation_id=_text_header(hdrs, "causation_id"),
        timestamp=timestamp or utcnow(),
        version=version,
        traceparent=_text_header(hdrs, "traceparent"),
        headers={k: v for k, v in hdrs.items() if k not in RESERVED_HEADERS},
    )


def _text_header(headers: Mapping[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise PoisonMessage(f"header {name} is not a string: {type(value).__name__}")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value (a scalar is one level), without
    recursion; only containers are visited, so a flat payload costs one pass."""
    if not isinstance(value, dict | list):
        return 1
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        reached = level + 1 if children else level
        if reached > deepest:
            deepest = reached
            if deepest > MAX_NESTING:
                return deepest
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, level + 1))
    return deepest
