"""Loading the sagas a daemon runs, and pinning their versions in the store.

A definition is known to the store by `(saga, version)` with the digest of its file.
Loading a file whose content changed while its `version` did not is refused: running
instances would otherwise silently change behaviour under their feet.

Several versions of one saga run side by side (`order.yaml` with version 2 beside
`order@1.yaml` with version 1): new instances start on the newest, each running one
finishes on the version it started on. A deployment that leaves running instances
without their version is refused at start-up, in one line with the counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bus.errors import ConfigurationError
from bus.store.base import Store
from bus.store.browse import saga_census
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


async def refuse_stranded(store: Store, machines: Sequence[Machine]) -> None:
    """Raises `ConfigurationError` when running instances of a loaded saga run on a
    version that is not loaded (they would wait for ever: their events and timers are
    for a definition no daemon has).

    Counted by the store (one index-only pass, `bus.store.browse.saga_census`), never
    read: a store of a million waiting instances costs the daemon no memory here."""
    loaded = {(m.name, m.version) for m in machines}
    names = {name for name, _ in loaded}
    async with store.transaction() as tx:
        census = await saga_census(tx)
    stranded: Counter[tuple[str, int]] = Counter()
    for row in census:
        key = (row.saga, row.definition_version)
        if row.status == "running" and row.saga in names and key not in loaded:
            stranded[key] += row.count
    if stranded:
        counts = ", ".join(
            f"{saga} v{version}: {count}" for (saga, version), count in sorted(stranded.items())
        )
        raise ConfigurationError(
            f"running saga instances on versions that are not loaded ({counts}): deploy "
            "each such version's file beside the new one (e.g. sagas/<saga>@<version>.yaml)"
        )
