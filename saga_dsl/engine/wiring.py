"""What a daemon needs to run the sagas of a directory: endpoints and the scheduler."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bus.store.base import Store
from bus.wire.contracts import Registry, registry
from saga_dsl.engine.endpoint import SagaEndpoint
from saga_dsl.engine.scheduler import TimerScheduler
from saga_dsl.engine.versions import load_machines, pin_versions


@dataclass(frozen=True)
class SagaRuntime:
    endpoints: list[SagaEndpoint]
    scheduler: TimerScheduler

    async def pin(self, store: Store) -> None:
        """Refuses to run a changed definition whose version was not bumped."""
        await pin_versions(store, [e.machine for e in self.endpoints])


def saga_runtime(directory: str | Path, *, contracts: Registry = registry) -> SagaRuntime:
    """Loads and validates every saga file of `directory` (raises `InvalidSagas`)."""
    endpoints = [
        SagaEndpoint(machine, contracts=contracts)
        for machine in load_machines(directory, contracts=contracts)
    ]
    return SagaRuntime(endpoints, TimerScheduler(endpoints, contracts=contracts))
