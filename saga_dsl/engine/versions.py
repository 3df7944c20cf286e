"""Loading the sagas a daemon runs, and pinning their versions in the store.

A definition is known to the store by `(saga, version)` with the digest of its file.
Loading a file whose content changed while its `version` did not is refused: running
instances would otherwise silently change behaviour under their feet.
"""

from __future__ import annotations

from pathlib import Path

from bus.errors import ConfigurationError
from bus.store.base import Store
from bus.wire.contracts import Registry, registry
from saga_dsl import Machine, compile, load_directory

DEFINITIONS = "sagabus.definitions"
"""Namespace of the store's documents that pin definition digests."""


class InvalidSagas(ConfigurationError):
    """Saga files that fail validation; the message lists every diagnostic."""


def load_machines(directory: str | Path, *, contracts: Registry = registry) -> list[Machine]:
    """Validates and compiles every saga file of `directory`; raises `InvalidSagas` with
    the validator's messages when any file has an error."""
    result = load_directory(directory, registry=contracts)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if errors:
        raise InvalidSagas("\n".join(str(d) for d in result.diagnostics))
    return [compile(definition) for definition in result.definitions]


async def pin_versions(store: Store, machines: list[Machine]) -> None:
    """Records each definition's digest; refuses a changed file with an unchanged version."""
    async with store.transaction() as tx:
        for machine in machines:
            key = f"{machine.name}@{machine.version}"
            known = await tx.state_get(DEFINITIONS, key, for_update=True)
            if known is None:
                await tx.state_put(DEFINITIONS, key, {"digest": machine.digest})
            elif known["digest"] != machine.digest:
                raise ConfigurationError(
                    f"saga {machine.name!r} changed but its version is still "
                    f"{machine.version}: bump `version:` in its file so running instances "
                    f"keep the definition they started on"
                )
