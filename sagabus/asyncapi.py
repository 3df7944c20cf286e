"""The AsyncAPI 3.0 document of a namespace: what is on the wire, for any language.

    document = asyncapi_document(registry, participants(services, sagas), namespace="sagabus")

- One channel per message type: its address is the routing key (the type name) on
  `<ns>.commands` (direct) or `<ns>.events` (topic), described by an AMQP 0.3.0
  channel binding.
- One message per contract, its payload the contract's JSON Schema (pydantic's, with
  its `$defs` lifted into `components.schemas`), its headers the envelope's AMQP
  headers (`version`, `kind`, `causation_id`, `traceparent`). A contract at version N
  is accepted at versions 1..N where upcasters exist; older shapes have no model, so
  the document describes the current one and says which versions are read.
- Operations per participant: each service *receives* its commands and events; each
  saga receives its events and *sends* its commands and events.

Pure: builds a dict, does no I/O (the CLI writes it as JSON or YAML).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from bus.settings_names import DEFAULT_NAMESPACE
from bus.wire.contracts import Message, Registry
from bus.wire.envelope import CONTENT_TYPE
from bus.wire.topology import Names
from sagabus.participants import Participant

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
SERVER = "rabbitmq"

Document = dict[str, Any]

ENVELOPE_HEADERS: Document = {
    "type": "object",
    "description": (
        "AMQP headers. The AMQP properties message_id (a UUID), type (the message type),"
        " correlation_id (the conversation or saga instance), timestamp,"
        " content_type=application/json and delivery_mode=2 (persistent) travel"
        " beside them; see docs/wire-format.md."
    ),
    "properties": {
        "version": {"type": "integer", "minimum": 1, "description": "Contract version."},
        "kind": {"type": "string", "enum": ["command", "event"]},
        "causation_id": {
            "type": "string",
            "description": "message_id of the message that caused this one.",
        },
        "traceparent": {"type": "string", "description": "W3C trace context."},
    },
}


def asyncapi_document(
    contracts: Registry | Iterable[type[Message]],
    participants: Sequence[Participant],
    *,
    namespace: str = DEFAULT_NAMESPACE,
    host: str = "localhost:5672",
    title: str | None = None,
    version: str = "1.0.0",
) -> Document:
    """The document for `namespace`: every contract of `contracts` that a participant
    uses, or every contract when `participants` is empty."""
    names = Names(namespace)
    models = {c.message_type(): c for c in contracts}
    used = _used_types(participants) or set(models)
    schemas: dict[str, Any] = {}
    messages = {
        name: _message(models[name], contracts, schemas)
        for name in sorted(used)
        if name in models
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title or f"{namespace} message bus",
            "version": version,
            "description": (
                f"Commands on the direct exchange {names.commands} and events on the topic"
                f" exchange {names.events}; the routing key is the message type."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            SERVER: {"host": host, "protocol": "amqp", "protocolVersion": "0.9.1"}
        },
        "channels": {
            _channel_id(models[n]): _channel(models[n], names) for n in messages
        },
        "operations": _operations(participants, models, names),
        "components": {"messages": messages, "schemas": schemas},
    }


def broker_host(amqp_url: str) -> str:
    """`host:port` of an AMQP URL, without its credentials (the document is public)."""
    parts = urlsplit(amqp_url)
    default = 5671 if parts.scheme == "amqps" else 5672
    return f"{parts.hostname or 'localhost'}:{parts.port or default}"


def _used_types(participants: Sequence[Participant]) -> set[str]:
    used: set[str] = set()
    for p in participants:
        used |= p.receives_commands | p.receives_events | p.sends_commands | p.publishes_events
    return used


def _channel_id(model: type[Message]) -> str:
    return f"{model.__kind__}s.{model.message_type()}"


def _exchange(model: type[Message], names: Names) -> tuple[str, str]:
    if model.__kind__ == "command":
        return names.commands, "direct"
    return names.events, "topic"


def _channel(model: type[Message], names: Names) -> Document:
    exchange, kind = _exchange(model, names)
    name = model.message_type()
    return {
        "address": name,
        "title": f"{name} on {exchange}",
        "servers": [{"$ref": f"#/servers/{SERVER}"}],
        "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": exchange,
                    "type": kind,
                    "durable": True,
                    "autoDelete": False,
                    "vhost": "/",
                },
                "bindingVersion": AMQP_BINDING_VERSION,
            }
        },
    }


def _message(
    model: type[Message], contracts: Registry | Iterable[type[Message]], schemas: Document
) -> Document:
    name = model.message_type()
    current = model.__version__
    readable = _readable_versions(name, current, contracts)
    described = (model.__doc__ or "").strip()
    accepted = f"Version {current}; versions read: {', '.join(map(str, readable))}."
    return {
        "name": name,
        "title": name,
        "summary": f"A {model.__kind__} (contract version {current}).",
        "description": f"{described}\n\n{accepted}" if described else accepted,
        "contentType": CONTENT_TYPE,
        "headers": ENVELOPE_HEADERS,
        "payload": _lift_definitions(model.model_json_schema(), schemas),
        "bindings": {
            "amqp": {"messageType": name, "bindingVersion": AMQP_BINDING_VERSION}
        },
        "x-sagabus-kind": model.__kind__,
        "x-sagabus-version": current,
        "x-sagabus-versions-read": readable,
    }


def _readable_versions(
    name: str, current: int, contracts: Registry | Iterable[type[Message]]
) -> list[int]:
    """Versions an endpoint accepts: the current one and every older one from which
    an unbroken chain of upcasters leads to it."""
    if not isinstance(contracts, Registry):
        return [current]
    readable = [current]
    for older in range(current - 1, 0, -1):
        if not contracts.has_upcaster(name, older):
            break
        readable.insert(0, older)
    return readable


def _lift_definitions(schema: Document, schemas: Document) -> Document:
    """Moves pydantic's `$defs` to `components.schemas`, rewriting the references."""
    definitions = schema.pop("$defs", {})
    for key, value in definitions.items():
        schemas[key] = _rewrite_refs(value)
    lifted: Document = _rewrite_refs(schema)
    return lifted


def _rewrite_refs(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith("#/$defs/"):
                out[key] = "#/components/schemas/" + item.removeprefix("#/$defs/")
            else:
                out[key] = _rewrite_refs(item)
        return out
    if isinstance(value, list):
        return [_rewrite_refs(v) for v in value]
    return value


def _operations(
    participants: Sequence[Participant], models: Mapping[str, type[Message]], names: Names
) -> Document:
    operations: Document = {}
    for p in participants:
        queue = names.queue(p.endpoint)
        directions = (
            ("receive", sorted(p.receives_commands | p.receives_events)),
            ("send", sorted(p.sends_commands | p.publishes_events)),
        )
        for action, types in directions:
            for name in types:
                if name not in models:
                    continue
                channel = _channel_id(models[name])
                verb = "receives" if action == "receive" else "sends"
                operations[f"{p.endpoint}.{action}.{name}"] = {
                    "action": action,
                    "title": f"{p.endpoint} {verb} {name}",
                    "summary": f"The {p.kind} {p.endpoint} (queue {queue}) {verb} {name}.",
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"}],
                    "tags": [{"name": p.kind}, {"name": p.endpoint}],
                }
    return operations
