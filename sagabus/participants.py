"""Who takes part in a namespace's conversations, and with which messages.

A participant is an endpoint seen from the outside: the queue it reads, the commands
and events it receives, and the commands and events it is known to send. For a
service, what it sends is what its handlers declare (`emits=`, bus/unitofwork/service.py);
for a saga, its definition says both (start and `on:` events, `until:` confirmations; `send:` and
`publish:` of its states and compensations). This is the input of the AsyncAPI
document (`sagabus.asyncapi`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.service import Service
from saga_dsl.engine.endpoint import SagaEndpoint, endpoint_name
from saga_dsl.saga_definition import Action, SagaDefinition


@dataclass(frozen=True)
class Participant:
    """kind: `service` or `saga`. endpoint: its endpoint name (the queue before the
    namespace prefix). description: a sentence, when one is known."""

    kind: str
    endpoint: str
    receives_commands: frozenset[str]
    receives_events: frozenset[str]
    sends_commands: frozenset[str] = frozenset()
    publishes_events: frozenset[str] = frozenset()
    description: str | None = None


def of_service(service: Service) -> Participant:
    """What a service receives, and what its handlers declare they emit (`emits=`)."""
    return Participant(
        kind="service",
        endpoint=service.name,
        receives_commands=service.commands,
        receives_events=service.events,
        sends_commands=service.sends,
        publishes_events=service.publishes,
    )


def of_saga(definition: SagaDefinition) -> Participant:
    received = {definition.start_event, *definition.any_on}
    actions: list[Action] = []
    for state in definition.states.values():
        received.update(state.on)
        actions.extend(state.entry)
        if state.compensation is not None:
            actions.extend(state.compensation.actions)
            if state.compensation.until is not None:
                received.add(state.compensation.until)
    return Participant(
        kind="saga",
        endpoint=endpoint_name(definition.name),
        receives_commands=frozenset(),
        receives_events=frozenset(received),
        sends_commands=frozenset(a.type for a in actions if a.kind == "command"),
        publishes_events=frozenset(a.type for a in actions if a.kind == "event"),
        description=definition.description,
    )


def participants(
    services: Iterable[Service], sagas: Iterable[SagaDefinition]
) -> list[Participant]:
    """Services then sagas, each group by endpoint name."""
    found = sorted((of_service(s) for s in services), key=lambda p: p.endpoint)
    found += sorted((of_saga(d) for d in sagas), key=lambda p: p.endpoint)
    return found


def of_endpoint(endpoint: Endpoint) -> Participant:
    """A running endpoint: a service, a saga, or any other (what it receives only);
    an endpoint wrapped in middleware is described as the one inside."""
    inner: Endpoint = getattr(endpoint, "endpoint", endpoint)
    if isinstance(inner, Service):
        return of_service(inner)
    if isinstance(inner, SagaEndpoint):
        return of_saga(inner.machine.definition)
    return Participant(
        kind="endpoint",
        endpoint=inner.name,
        receives_commands=inner.commands,
        receives_events=inner.events,
    )
