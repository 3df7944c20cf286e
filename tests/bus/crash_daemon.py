"""`sagabus run` for the test services, except that the process kills itself with
SIGKILL right after the first commit in which the ledger charged something: after
commit, before the relay publishes and before the ack. Configured by the `SAGABUS_*`
environment like the real daemon."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from forwarding_store import ForwardingStore  # tests/support, on its PYTHONPATH
from ledger_services import LEDGER, audit, ledger  # tests/support, on its PYTHONPATH

from bus import Bus, Settings, Transaction, open_store
from bus.observability.logging import configure_logging


class KillAfterCommit(ForwardingStore):
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.inner.transaction() as tx:
            yield tx
        async with self.inner.transaction() as tx:
            charged = await tx.state_list(LEDGER)
        if charged:
            os.kill(os.getpid(), signal.SIGKILL)


async def main() -> None:
    settings = Settings.load()
    configure_logging(settings.log_format, settings.log_level)
    async with (
        KillAfterCommit(open_store(settings)) as store,
        Bus(settings, store, [ledger, audit]),
    ):
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
