"""The daemon's composition: what `sagabus run` serves, from the project's configuration.

`bus.daemon.serve` runs endpoints; this module decides which: the services of the
configured modules, a background task per registered projection, the sagas of the
configured directory (their endpoints, their timer scheduler, and the check of their
definition versions before anything is consumed), and the scheduler of delayed sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bus.daemon import Preparation
from bus.errors import ConfigurationError
from bus.eventsourcing import projection_task, registered_projections
from bus.unitofwork.endpoint import Endpoint
from bus.unitofwork.runtime import BackgroundTask
from bus.unitofwork.scheduled import ScheduledSends
from saga_dsl.engine.wiring import saga_runtime
from sagabus.config import ProjectConfig
from sagabus.imports import load_services

NOTHING_TO_RUN = (
    "nothing to run: no services and no sagas are configured; name them with "
    "--handlers MODULE / --sagas DIR, or in [tool.sagabus] of pyproject.toml "
    "(`sagabus init DIR` makes a project)"
)


class NothingToRun(ConfigurationError):
    """Neither services nor sagas: no project here, or an empty one."""


@dataclass
class Assembly:
    """Everything `bus.daemon.serve` takes, for one project."""

    endpoints: list[Endpoint] = field(default_factory=list)
    background: list[BackgroundTask] = field(default_factory=list)
    prepare: list[Preparation] = field(default_factory=list)


def assemble(config: ProjectConfig, *, sagas: bool = True) -> Assembly:
    """The services, projections and (unless `sagas` is False) sagas of `config`.
    Services come first: importing them registers the contracts the sagas are checked
    against. Raises `NothingToRun` when that makes no endpoint at all."""
    assembly = Assembly()
    for target in config.services:
        assembly.endpoints.extend(load_services(target))
    assembly.background.extend(
        projection_task(cls()) for cls in registered_projections().values()
    )
    if sagas and config.sagas is not None:
        if not config.sagas.is_dir():
            raise ConfigurationError(f"sagas directory {str(config.sagas)!r} does not exist")
        runtime = saga_runtime(config.sagas)
        assembly.endpoints.extend(runtime.endpoints)
        assembly.background.append(runtime.scheduler)
        assembly.prepare.append(runtime.pin)
    if not assembly.endpoints:
        raise NothingToRun(NOTHING_TO_RUN)
    # served by `bus.daemon.serve` in any case; listed here so that what is derived
    # from the assembly (dead-letter queues, the AsyncAPI document) includes it
    assembly.endpoints.append(ScheduledSends())
    return assembly


def endpoints_if_any(config: ProjectConfig) -> list[Endpoint]:
    """The endpoints `assemble` makes of `config`, or none where there is nothing to
    run: with no project here, the namespace's store and unroutable queue are still
    there for the tools that look at them (`sagabus dlq`, `sagabus console`)."""
    try:
        return assemble(config).endpoints
    except NothingToRun:
        return []
