"""The services' own documents on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bus.store.codec import dump_json, load_json
from bus.store.postgres.connection import PostgresRole
from bus.store.service_state import DocumentName, ServiceState

GET_MANY = """
SELECT s.value FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS n(ns, k, i)
LEFT JOIN service_state s ON s.namespace = n.ns AND s.key = n.k
ORDER BY n.i"""

GET_MANY_FOR_UPDATE = """
SELECT sagabus_state_for_update(n.ns, n.k)
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS n(ns, k, i)
ORDER BY n.i"""
"""Each document locked as `state_get(for_update=True)` locks it, in the order given."""

PUT_MANY = """
INSERT INTO service_state (namespace, key, value)
SELECT ns, k, v::json FROM unnest($1::text[], $2::text[], $3::text[]) AS d(ns, k, v)
ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value"""


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

    async def state_get_many(
        self, names: Sequence[DocumentName], *, for_update: bool = False
    ) -> list[dict[str, Any] | None]:
        if not names:
            return []
        rows = await self._conn.fetch(
            GET_MANY_FOR_UPDATE if for_update else GET_MANY,
            [ns for ns, _ in names],
            [key for _, key in names],
        )
        return [None if row[0] is None else dict(load_json(row[0])) for row in rows]

    async def state_put_many(
        self, documents: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> None:
        # one row per name, the last value winning (an upsert may not touch a row twice)
        last = {(ns, key): value for ns, key, value in documents}
        if last:
            await self._conn.execute(
                PUT_MANY,
                [ns for ns, _ in last],
                [key for _, key in last],
                [dump_json(value) for value in last.values()],
            )

    async def state_setdefault(
        self, namespace: str, key: str, value: dict[str, Any]
    ) -> dict[str, Any]:
        # a row already there is "updated" to itself (which locks it, as FOR UPDATE
        # would), so RETURNING gives it back; a creator racing this one is waited for
        stored = await self._conn.fetchval(
            "INSERT INTO service_state (namespace, key, value) VALUES ($1, $2, $3) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = service_state.value "
            "RETURNING value",
            namespace,
            key,
            dump_json(value),
        )
        return dict(load_json(stored))

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
