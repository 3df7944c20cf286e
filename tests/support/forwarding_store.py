"""A `Store` that forwards to another: the base of the test stores that break one
thing (a commit that fails, a process killed after its commit). Imports only `bus`, so
a daemon subprocess can import it with tests/support on its PYTHONPATH."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from bus.store import Store, Transaction


class ForwardingStore(Store):
    """Forwards to `inner`; override `transaction` to change what a test changes."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.url = inner.url

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        return self.inner.transaction()
