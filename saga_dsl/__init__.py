"""The saga language: YAML in, a validated definition, a pure state machine out.

Loading and checking::

    result = saga_dsl.load(Path("sagas/order_processing.yaml"), registry=registry)
    for diagnostic in result.diagnostics:   # file:line:col: severity: message
        print(diagnostic)
    machine = saga_dsl.compile(result.definition)   # when result.ok

Running (the saga engine does this inside a store transaction)::

    step = machine.start(EventInput("OrderCreated", payload, message_id), now)
    step = machine.handle(step.instance, EventInput("PaymentSucceeded", payload), now)
    step = machine.handle(step.instance, TimerFired("retry:shipping:4:1"), now)
    step.instance, step.effects, step.accepted, step.from_state, step.to_state
"""

from saga_dsl import effects
from saga_dsl.compiler import Edge, build_table
from saga_dsl.diagnostics import Diagnostic
from saga_dsl.effects import *  # noqa: F403  (the vocabulary is effects.__all__)
from saga_dsl.instance import Compensating, SagaInstance, Status
from saga_dsl.machine import Machine, Step
from saga_dsl.saga_definition import SagaDefinition
from saga_dsl.saga_files import DirectoryLoad, LoadResult, load, load_directory, load_files


def compile(definition: SagaDefinition) -> Machine:
    """The state machine of a checked definition (`LoadResult.definition`)."""
    return Machine(build_table(definition))


__all__ = [
    "Compensating",
    "Diagnostic",
    "DirectoryLoad",
    "Edge",
    "LoadResult",
    "Machine",
    "SagaDefinition",
    "SagaInstance",
    "Status",
    "Step",
    "compile",
    "load",
    "load_directory",
    "load_files",
]
__all__ += effects.__all__
