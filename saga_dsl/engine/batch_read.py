"""A batch's saga instances, read in one statement before its deliveries are handled.

The saga endpoint reads each delivery's instance (`saga_get` by the correlation id,
`saga_find` by the correlation value); `read_batch` reads them all at once, and each
delivery takes its instance from here instead. What it holds is what those reads would
return, for as long as no delivery of the batch has written that instance: the endpoint
`forget`s an instance before it starts or steps it, and a later delivery for it reads it
again (seeing what the first one wrote). It belongs to one transaction: a delivery
retried on its own runs in another one and reads as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bus.store.base import SagaRecord, Transaction

Key = tuple[str, str]
"""("id", instance id) or ("correlation", correlation value of the endpoint's saga)."""

@dataclass(eq=False, slots=True)
class BatchRead:
    tx: Transaction
    found: dict[Key, SagaRecord | None]

    def holds(self, tx: Transaction, key: Key) -> bool:
        """Whether `found[key]` is what reading `key` in `tx` now would return."""
        return tx is self.tx and key in self.found

    def forget(self, instance_id: str, correlation: str) -> None:
        """Drops what was read for an instance about to be written."""
        self.found.pop(("id", instance_id), None)
        self.found.pop(("correlation", correlation), None)


async def read_batch(
    tx: Transaction, saga: str, ids: Iterable[str], correlations: Iterable[str]
) -> BatchRead:
    """Reads, locking them as the single reads would, the instances with one of `ids`
    and those of `saga` with one of `correlations`."""
    wanted_ids, wanted_correlations = sorted(set(ids)), sorted(set(correlations))
    found: dict[Key, SagaRecord | None] = {("id", i): None for i in wanted_ids}
    found.update({("correlation", c): None for c in wanted_correlations})
    if not found:
        return BatchRead(tx, found)
    records = await tx.saga_get_many(wanted_ids, saga, wanted_correlations, for_update=True)
    for record in records:
        if ("id", record.id) in found:
            found[("id", record.id)] = record
        if record.saga == saga and ("correlation", record.correlation) in found:
            found[("correlation", record.correlation)] = record
    return BatchRead(tx, found)
