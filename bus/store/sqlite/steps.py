"""A saga step on SQLite in one statement, as on PostgreSQL (`bus.store.postgres.steps`).

SQLite has no data-modifying CTEs; it has views with `INSTEAD OF INSERT` triggers. An
`INSERT` into the view `saga_step` (or `saga_start`) runs the trigger's statements
inside SQLite, as one statement of the caller's: the instance updated with its version
check (or inserted), then its history row and its timers. When the instance is not
written (its row_version moved on; or, for a start, the id or `(saga, correlation)`
exists already) the trigger raises `ABORT`, which undoes everything the statement did
and leaves the transaction as it was; the caller reads why and raises
`ConcurrencyError` or `DuplicateInstance`, as PostgreSQL's caller does.
"""

from __future__ import annotations

from typing import Any

from bus.store.codec import SAGA_COLUMNS, dump_json, time_text
from bus.store.records import StepWrites

STALE = "sagabus: saga instance written by someone else"
"""The message of the `ABORT` of a step whose instance's row_version moved on."""

DUPLICATE = "sagabus: saga instance exists already"
"""The message of the `ABORT` of a start whose instance exists."""

_WRITES_COLUMNS = "at, input, message_id, from_state, to_state, effects, cancel, arm"
"""The history row's columns, the names of the timers to cancel (a JSON list) and the
timers to arm (a JSON list of `[saga, name, due_at, payload]`)."""

_WRITES = """
    INSERT INTO saga_history (instance_id, seq, at, input, message_id, from_state,
                              to_state, effects)
    SELECT NEW.id, coalesce((SELECT max(h.seq) FROM saga_history h
                             WHERE h.instance_id = NEW.id), 0) + 1,
           NEW.at, NEW.input, NEW.message_id, NEW.from_state, NEW.to_state, NEW.effects;
    DELETE FROM timer
    WHERE instance_id = NEW.id AND name IN (SELECT value FROM json_each(NEW.cancel));
    INSERT INTO timer (instance_id, saga, name, due_at, payload)
    SELECT NEW.id, json_extract(a.value, '$[0]'), json_extract(a.value, '$[1]'),
           json_extract(a.value, '$[2]'), json_extract(a.value, '$[3]')
    FROM json_each(NEW.arm) AS a WHERE true
    ON CONFLICT (instance_id, name) DO UPDATE SET
        saga = excluded.saga, due_at = excluded.due_at, payload = excluded.payload;
END"""

_UPDATE_COLUMNS = (
    "definition_version, state, status, data, machine, reason, updated_at, id, row_version"
)

_NOTHING = ", ".join(["NULL"] * (len(_WRITES_COLUMNS.split(",")) + 12))

MIGRATION: tuple[str, ...] = (
    f"CREATE VIEW saga_start ({SAGA_COLUMNS}, {_WRITES_COLUMNS}) AS SELECT {_NOTHING} "
    "WHERE 0",
    f"""CREATE TRIGGER saga_start_write INSTEAD OF INSERT ON saga_start BEGIN
    INSERT INTO saga_instance ({SAGA_COLUMNS})
    SELECT {", ".join(f"NEW.{c.strip()}" for c in SAGA_COLUMNS.split(","))}
    WHERE true ON CONFLICT DO NOTHING;
    SELECT RAISE(ABORT, '{DUPLICATE}') WHERE changes() = 0;{_WRITES}""",
    f"CREATE VIEW saga_step ({_UPDATE_COLUMNS}, {_WRITES_COLUMNS}) AS SELECT "
    + ", ".join(["NULL"] * (len(_WRITES_COLUMNS.split(",")) + 9))
    + " WHERE 0",
    f"""CREATE TRIGGER saga_step_write INSTEAD OF INSERT ON saga_step BEGIN
    UPDATE saga_instance SET definition_version = NEW.definition_version,
        state = NEW.state, status = NEW.status, data = NEW.data, machine = NEW.machine,
        reason = NEW.reason, row_version = row_version + 1, updated_at = NEW.updated_at
    WHERE id = NEW.id AND row_version = NEW.row_version;
    SELECT RAISE(ABORT, '{STALE}') WHERE changes() = 0;{_WRITES}""",
)
"""The views and their triggers (a schema step of `bus.store.sqlite.schema`)."""

START = (
    f"INSERT INTO saga_start ({SAGA_COLUMNS}, {_WRITES_COLUMNS}) VALUES ("
    + ", ".join(["?"] * 20) + ")"
)
"""A new instance with its first step (`Sagas.saga_start`)."""

STEP = (
    f"INSERT INTO saga_step ({_UPDATE_COLUMNS}, {_WRITES_COLUMNS}) VALUES ("
    + ", ".join(["?"] * 17) + ")"
)
"""A step of an existing instance (`Sagas.saga_step`)."""


def writes_params(writes: StepWrites) -> tuple[Any, ...]:
    """The parameters of the history row and the timers, in `_WRITES_COLUMNS` order."""
    h = writes.history
    return (
        time_text(h.at), h.input, h.message_id, h.from_state, h.to_state,
        dump_json(h.effects),
        dump_json(list(writes.cancel)),
        dump_json([
            [t.saga, t.name, time_text(t.due_at), dump_json(t.payload)] for t in writes.arm
        ]),
    )
