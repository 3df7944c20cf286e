"""The services' own documents on SQLite (one writer at a time: `for_update` needs no
lock of its own)."""

from __future__ import annotations

from typing import Any

from bus.store.codec import dump_json, load_json
from bus.store.service_state import ServiceState
from bus.store.sqlite.connection import SQLiteRole


class SQLiteServiceState(SQLiteRole, ServiceState):
    async def state_get(
        self, namespace: str, key: str, *, for_update: bool = False
    ) -> dict[str, Any] | None:
        value = self._value(
            "SELECT value FROM service_state WHERE namespace = ? AND key = ?", (namespace, key)
        )
        return None if value is None else dict(load_json(value))

    async def state_put(self, namespace: str, key: str, value: dict[str, Any]) -> None:
        self._conn.execute(
            "INSERT INTO service_state (namespace, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            (namespace, key, dump_json(value)),
        )

    async def state_delete(self, namespace: str, key: str) -> None:
        self._conn.execute(
            "DELETE FROM service_state WHERE namespace = ? AND key = ?", (namespace, key)
        )

    async def state_list(self, namespace: str) -> list[tuple[str, dict[str, Any]]]:
        rows = self._rows(
            "SELECT key, value FROM service_state WHERE namespace = ? ORDER BY key",
            (namespace,),
        )
        return [(row[0], load_json(row[1])) for row in rows]
