"""The saga role of a transaction: instances, their history and their timers."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bus.store.codec import SAGA_COLUMNS
from bus.store.records import HistoryRecord, SagaRecord, SagaStatus, StepWrites, TimerRecord


class Sagas(abc.ABC):
    """Saga instances with optimistic versions, their step history, durable timers."""

    # -- instances -------------------------------------------------------------------
    @abc.abstractmethod
    async def saga_insert(self, record: SagaRecord) -> None:
        """Raises `DuplicateInstance` when `(saga, correlation)` exists already."""

    @abc.abstractmethod
    async def saga_get(
        self, instance_id: str, *, for_update: bool = False
    ) -> SagaRecord | None: ...

    @abc.abstractmethod
    async def saga_find(
        self, saga: str, correlation: str, *, for_update: bool = False
    ) -> SagaRecord | None: ...

    @abc.abstractmethod
    async def saga_get_many(
        self, ids: Sequence[str], saga: str, keys: Sequence[str], *, for_update: bool = False
    ) -> list[SagaRecord]:
        """In one statement, every instance `saga_get` finds by one of `ids` and every
        one `saga_find(saga, k)` finds for one of the correlation values `keys`, each
        once, ordered by id (`for_update` locks them in that order, as `saga_get` /
        `saga_find` would lock each one)."""

    @abc.abstractmethod
    async def saga_with_correlation(self, correlation: str) -> list[SagaRecord]:
        """Every saga's instance with this correlation value, by saga name: one lookup
        in the index on `correlation`, however many instances the store holds."""

    @abc.abstractmethod
    async def saga_update(self, record: SagaRecord) -> SagaRecord:
        """Saves `record` if the stored `row_version` still equals `record.row_version`,
        else raises `ConcurrencyError`. Returns the record with the new row_version."""

    async def saga_start(self, record: SagaRecord, writes: StepWrites) -> None:
        """A new instance with its first step's history and timers, as `saga_insert`,
        `timers_set` and `history_append` would one after the other; raises
        `DuplicateInstance` (having written nothing) when `(saga, correlation)` or the
        id exists already. Stores override this with fewer statements."""
        await self.saga_insert(record)
        await self._write_step(record.id, writes)

    async def saga_step(self, record: SagaRecord, writes: StepWrites) -> SagaRecord:
        """A step of an existing instance: `saga_update` (same version check, same
        result), then its timers and history row, as `timers_set` and `history_append`
        would. Stores override this with fewer statements."""
        saved = await self.saga_update(record)
        await self._write_step(record.id, writes)
        return saved

    async def _write_step(self, instance_id: str, writes: StepWrites) -> None:
        await self.timers_set(instance_id, writes.cancel, writes.arm)
        await self.history_append([writes.history])

    async def saga_list(
        self,
        *,
        saga: str | None = None,
        state: str | None = None,
        status: SagaStatus | None = None,
        limit: int = 100,
    ) -> list[SagaRecord]:
        """Newest first."""
        filters = {"saga": saga, "state": state, "status": status}
        where = {column: value for column, value in filters.items() if value is not None}
        condition = " AND ".join(f"{column} = ?" for column in where)
        return await self._sagas_selected(
            f"SELECT {SAGA_COLUMNS} FROM saga_instance {f'WHERE {condition} ' if where else ''}"
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            [*where.values(), limit],
        )

    @abc.abstractmethod
    async def _sagas_selected(self, sql: str, params: Sequence[Any]) -> list[SagaRecord]:
        """The instances a query selecting `SAGA_COLUMNS`, written with `?`
        placeholders, returns."""

    @abc.abstractmethod
    async def saga_count(self) -> list[tuple[str, str, int]]:
        """(saga, state, count) for every non-empty pair."""

    # -- history ---------------------------------------------------------------------
    @abc.abstractmethod
    async def history_append(self, records: Sequence[HistoryRecord]) -> None: ...

    @abc.abstractmethod
    async def history(self, instance_id: str) -> list[HistoryRecord]:
        """Oldest first, with `seq` filled in."""

    # -- timers ----------------------------------------------------------------------
    @abc.abstractmethod
    async def timer_arm(self, timer: TimerRecord) -> None:
        """Arms a timer, replacing one of the same `(instance_id, name)`."""

    @abc.abstractmethod
    async def timer_cancel(self, instance_id: str, names: Sequence[str] | None = None) -> None:
        """Cancels the named timers of an instance, or all of them when `names` is None."""

    async def timers_set(
        self, instance_id: str, cancel: Sequence[str], arm: Sequence[TimerRecord]
    ) -> None:
        """Cancels the named timers of an instance and arms `arm` (of that instance),
        as one step would one after the other; no name is in both. Stores override
        this with fewer statements."""
        if cancel:
            await self.timer_cancel(instance_id, cancel)
        for timer in arm:
            await self.timer_arm(timer)

    @abc.abstractmethod
    async def timers_due(self, now: datetime, limit: int = 100) -> list[TimerRecord]:
        """Timers due at `now`, locked for this transaction (others skip them); the
        caller deletes each one it fires with `timer_delete` in the same transaction."""

    @abc.abstractmethod
    async def timer_delete(self, timer_id: int) -> None: ...

    @abc.abstractmethod
    async def timers_of(self, instance_id: str) -> list[TimerRecord]: ...

    @abc.abstractmethod
    async def next_timer_due(self) -> datetime | None: ...
