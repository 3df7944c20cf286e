"""What a daemon needs to run the sagas of a directory: endpoints and the scheduler."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bus.store.base import Store
from bus.wire.contracts import Registry, registry
from saga_dsl import Machine
from saga_dsl.engine.endpoint import SagaEndpoint
from saga_dsl.engine.scheduler import TimerScheduler
from saga_dsl.engine.versions import load_machines, pin_versions, refuse_stranded


@dataclass(frozen=True)
class SagaRuntime:
    endpoints: list[SagaEndpoint]
    scheduler: TimerScheduler

    async def pin(self, store: Store) -> None:
        """Refuses to run a changed definition whose version was not bumped, and a
        deployment that leaves running instances without the version they run on."""
        machines = [m for e in self.endpoints for m in e.versions.values()]
        await pin_versions(store, machines)
        await refuse_stranded(store, machines)


def saga_runtime(directory: str | Path, *, contracts: Registry = registry) -> SagaRuntime:
    """Loads and validates every saga file of `directory` (raises `InvalidSagas`); the
    versions of one saga share its endpoint, new instances starting on the newest."""
    by_name: dict[str, list[Machine]] = defaultdict(list)
    for machine in load_machines(directory, contracts=contracts):
        by_name[machine.name].append(machine)
    endpoints = []
    for versions in by_name.values():
        *older, newest = sorted(versions, key=lambda m: m.version)
        endpoints.append(SagaEndpoint(newest, older=older, contracts=contracts))
    return SagaRuntime(endpoints, TimerScheduler(endpoints, contracts=contracts))
