"""Durable state of the bus: one interface by role, one backend per subpackage.

`base.Transaction` composes four roles, one module each: `messaging` (inbox, outbox),
`service_state` (the services' documents), `sagas` (instances, history, timers) and
`events` (streams, snapshots, projections); `records` holds what they store. The
backends `sqlite/` and `postgres/` implement each role in a module of the same name
and share `codec` (rows to records); `factory.open_store` picks one by URL. The test
cases every backend must pass live in `conformance/` (imported by tests only).
This package may import `bus.errors` and `bus.wire.envelope`, nothing above them.
"""

from bus.store.base import (
    HistoryRecord,
    ProjectionRecord,
    SagaRecord,
    Store,
    StoredEvent,
    TimerRecord,
    Transaction,
)
from bus.store.events import Events
from bus.store.factory import open_store
from bus.store.messaging import Messaging
from bus.store.namespaces import namespace_url
from bus.store.sagas import Sagas
from bus.store.service_state import ServiceState

__all__ = [
    "Events",
    "HistoryRecord",
    "Messaging",
    "ProjectionRecord",
    "SagaRecord",
    "Sagas",
    "ServiceState",
    "Store",
    "StoredEvent",
    "TimerRecord",
    "Transaction",
    "namespace_url",
    "open_store",
]
