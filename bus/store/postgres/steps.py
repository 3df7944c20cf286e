"""A saga step on PostgreSQL in one statement: the instance (inserted or updated with
its version check), its history row and its timers, through data-modifying CTEs that
write only when the instance was written (one round trip instead of three)."""

from __future__ import annotations

from typing import Any

from bus.store.codec import SAGA_COLUMNS, dump_json, utc
from bus.store.records import StepWrites

_STEP_WRITES = """
, history AS (
    INSERT INTO saga_history (instance_id, seq, at, input, message_id, from_state,
                              to_state, effects)
    SELECT w.id, coalesce((SELECT max(h.seq) FROM saga_history h
                           WHERE h.instance_id = w.id), 0) + 1,
           ${0}, ${1}, ${2}, ${3}, ${4}, ${5}::json
    FROM written w
), cancelled AS (
    DELETE FROM timer
    WHERE instance_id IN (SELECT id FROM written) AND name = ANY(${6}::text[])
), armed AS (
    INSERT INTO timer (instance_id, saga, name, due_at, payload)
    SELECT w.id, a.s, a.n, a.d, a.p::json
    FROM written w,
         unnest(${7}::text[], ${8}::text[], ${9}::timestamptz[], ${10}::text[])
             AS a(s, n, d, p)
    ON CONFLICT (instance_id, name) DO UPDATE SET
        saga = excluded.saga, due_at = excluded.due_at, payload = excluded.payload
)
SELECT count(*) FROM written
"""


def _writes_sql(first: int) -> str:
    """The CTEs after `written` (the instance's id if it was written), their
    parameters numbered from `first`."""
    return _STEP_WRITES.format(*range(first, first + 11))


START = (
    "WITH written AS (\n"
    f"    INSERT INTO saga_instance ({SAGA_COLUMNS})\n"
    "    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)\n"
    "    ON CONFLICT DO NOTHING RETURNING id\n"
    ")" + _writes_sql(13)
).replace(
    "SELECT count(*) FROM written",
    "SELECT (SELECT count(*) FROM written),\n"
    "       EXISTS (SELECT 1 FROM saga_instance WHERE id = $1 OR (saga = $2 AND correlation = $4))",
)
"""A new instance with its first step (`Sagas.saga_start`): nothing is written when
the instance exists already (the count is 0); then whether the statement's snapshot
saw the instance (False: created by a transaction that committed while the insert
waited for it)."""

STEP = (
    "WITH written AS (\n"
    "    UPDATE saga_instance SET definition_version = $1, state = $2, status = $3,\n"
    "        data = $4, machine = $5, reason = $6, row_version = row_version + 1,\n"
    "        updated_at = $7\n"
    "    WHERE id = $8 AND row_version = $9 RETURNING id\n"
    ")" + _writes_sql(10)
)
"""A step of an existing instance (`Sagas.saga_step`): nothing is written when its
row_version moved on (the count is 0)."""


def writes_params(writes: StepWrites) -> tuple[Any, ...]:
    """The parameters of the history row and the timers, in `_STEP_WRITES` order."""
    h = writes.history
    arm = writes.arm
    return (
        utc(h.at), h.input, h.message_id, h.from_state, h.to_state, dump_json(h.effects),
        list(writes.cancel),
        [t.saga for t in arm],
        [t.name for t in arm],
        [utc(t.due_at) for t in arm],
        [dump_json(t.payload) for t in arm],
    )
