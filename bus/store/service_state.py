"""The service-state role of a transaction: JSON documents a service keeps, by
(namespace, key). The namespace here is the service's own, not the bus namespace."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

DocumentName = tuple[str, str]
"""A document's (namespace, key)."""


class ServiceState(abc.ABC):
    """The services' own documents."""

    @abc.abstractmethod
    async def state_get(
        self, namespace: str, key: str, *, for_update: bool = False
    ) -> dict[str, Any] | None:
        """A service's document; `for_update` locks it until the transaction ends."""

    async def state_get_many(
        self, names: Sequence[DocumentName], *, for_update: bool = False
    ) -> list[dict[str, Any] | None]:
        """Several documents, in the order of `names` (None for a missing one), as
        `state_get` one after the other would read (and lock, in that order) them.
        Stores override this with one statement."""
        return [await self.state_get(ns, key, for_update=for_update) for ns, key in names]

    async def state_setdefault(
        self, namespace: str, key: str, value: dict[str, Any]
    ) -> dict[str, Any]:
        """The document, locked as `state_get(for_update=True)` locks it; `value` is put
        and returned when there is none. Stores override this with one statement."""
        existing = await self.state_get(namespace, key, for_update=True)
        if existing is not None:
            return existing
        await self.state_put(namespace, key, value)
        return value

    @abc.abstractmethod
    async def state_put(self, namespace: str, key: str, value: dict[str, Any]) -> None: ...

    async def state_put_many(
        self, documents: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> None:
        """Puts several `(namespace, key, value)` documents, as `state_put` one after
        the other would (a name given twice: the last value stays). Stores override
        this with one statement."""
        for namespace, key, value in documents:
            await self.state_put(namespace, key, value)

    @abc.abstractmethod
    async def state_delete(self, namespace: str, key: str) -> None: ...

    @abc.abstractmethod
    async def state_list(self, namespace: str) -> list[tuple[str, dict[str, Any]]]:
        """Every document of a namespace, ordered by key."""
