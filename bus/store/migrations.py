"""What both backends' migrations share: which schema steps are still to run."""

from __future__ import annotations

from collections.abc import Sequence

from bus.errors import ConfigurationError

Migrations = Sequence[Sequence[str]]
"""Schema steps in order; version N is `migrations[N - 1]`. Append, never edit."""


def pending_steps(current: int, migrations: Migrations) -> list[tuple[int, Sequence[str]]]:
    """The steps after version `current`, each with its version; a schema newer than
    `migrations` knows is refused (this code is older than the database)."""
    if current > len(migrations):
        raise ConfigurationError(
            f"the store's schema is at version {current}, newer than this sagabus "
            f"knows ({len(migrations)}): upgrade sagabus"
        )
    return [
        (version, migrations[version - 1]) for version in range(current + 1, len(migrations) + 1)
    ]
