"""The services' own documents on PostgreSQL."""

from __future__ import annotations

from typing import Any

from bus.store.codec import dump_json, load_json
from bus.store.postgres.connection import PostgresRole
from bus.store.service_state import ServiceState

STATE_LOCK_CLASS = 0x5A6A
"""First key of the advisory lock that guards a service document which does not exist
yet (the second key is a hash of namespace and key)."""


class PostgresServiceState(PostgresRole, ServiceState):
    async def state_get(
        self, namespace: str, key: str, *, for_update: bool = False
    ) -> dict[str, Any] | None:
        select = "SELECT value FROM service_state WHERE namespace = $1 AND key = $2"
        if not for_update:
            value = await self._conn.fetchval(select, namespace, key)
        else:
            value = await self._conn.fetchval(f"{select} FOR UPDATE", namespace, key)
            if value is None:
                # no row to lock: lock the name, then look again (a concurrent
                # creator has committed by the time the lock is ours)
                await self._conn.execute(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2 || chr(31) || $3))",
                    STATE_LOCK_CLASS,
                    namespace,
                    key,
                )
                value = await self._conn.fetchval(f"{select} FOR UPDATE", namespace, key)
        return None if value is None else dict(load_json(value))

    async def state_put(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        await self._conn.execute(
            "INSERT INTO service_state (namespace, key, value) VALUES ($1, $2, $3) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            namespace,
            key,
            dump_json(value),
        )

    async def state_delete(self, namespace: str, key: str) -> None:
        await self._conn.execute(
            "DELETE FROM service_state WHERE namespace = $1 AND key = $2", namespace, key
        )

    async def state_list(self, namespace: str) -> list[tuple[str, dict[str, Any]]]:
        rows = await self._conn.fetch(
            "SELECT key, value FROM service_state WHERE namespace = $1 ORDER BY key", namespace
        )
        return [(row[0], load_json(row[1])) for row in rows]
