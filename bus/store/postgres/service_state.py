"""The services' own documents on PostgreSQL."""

from __future__ import annotations

from typing import Any

from bus.store.codec import dump_json, load_json
from bus.store.postgres.connection import PostgresRole
from bus.store.service_state import ServiceState


class PostgresServiceState(PostgresRole, ServiceState):
    async def state_get(
        self, namespace: str, key: str, *, for_update: bool = False
    ) -> dict[str, Any] | None:
        if for_update:
            # one round trip; a missing document's name is locked (schema.STATE_FOR_UPDATE)
            value = await self._conn.fetchval(
                "SELECT sagabus_state_for_update($1, $2)", namespace, key
            )
        else:
            value = await self._conn.fetchval(
                "SELECT value FROM service_state WHERE namespace = $1 AND key = $2",
                namespace,
                key,
            )
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
