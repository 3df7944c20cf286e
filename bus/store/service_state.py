"""The service-state role of a transaction: JSON documents a service keeps, by
(namespace, key). The namespace here is the service's own, not the bus namespace."""

from __future__ import annotations

import abc
from typing import Any


class ServiceState(abc.ABC):
    """The services' own documents."""

    @abc.abstractmethod
    async def state_get(
        self, namespace: str, key: str, *, for_update: bool = False
    ) -> dict[str, Any] | None:
        """A service's document; `for_update` locks it until the transaction ends."""

    @abc.abstractmethod
    async def state_put(self, namespace: str, key: str, value: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def state_delete(self, namespace: str, key: str) -> None: ...

    @abc.abstractmethod
    async def state_list(self, namespace: str) -> list[tuple[str, dict[str, Any]]]:
        """Every document of a namespace, ordered by key."""
