"""The behaviour every store backend must have, as test cases a backend's tests subclass
(the way `eventsourcing` ships its recorder test cases).

One case class per role, each a mix-in of `support.StoreCase`:

- `TransactionCases` (`transactions`): commit, rollback, savepoints, schema creation;
- `MessagingCases` (`messaging`): inbox and outbox;
- `ServiceStateCases` (`service_state`): the services' documents;
- `SagaCases` (`sagas`): instances, history, timers;
- `EventCases` (`events`): streams, snapshots, projections;
- `NamespaceCases` (`namespaces`): two namespaces in one database never meet.

`StoreConformance` is all of them. A backend's test module needs pytest,
pytest-asyncio and hypothesis (the test dependencies; nothing outside tests imports
this package) and provides one fixture, the URL of a fresh empty database::

    from bus.store.conformance import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store_url(self, tmp_path):
            return f"mystore:///{tmp_path / 'db'}"

        def open_backend(self, store_url, namespace=None):  # when open_store cannot
            return MyStore(store_url, namespace=namespace)

The cases take the fixtures `store` and `other_store` (a second connection to the same
database, as another process would have) from `StoreCase`.
"""

from bus.store.conformance.events import EventCases
from bus.store.conformance.messaging import MessagingCases
from bus.store.conformance.namespaces import NamespaceCases
from bus.store.conformance.sagas import SagaCases
from bus.store.conformance.service_state import ServiceStateCases
from bus.store.conformance.support import StoreCase
from bus.store.conformance.transactions import TransactionCases


class StoreConformance(
    TransactionCases, MessagingCases, ServiceStateCases, SagaCases, EventCases, NamespaceCases
):
    """Every case of every role."""


__all__ = [
    "EventCases",
    "MessagingCases",
    "NamespaceCases",
    "SagaCases",
    "ServiceStateCases",
    "StoreCase",
    "StoreConformance",
    "TransactionCases",
]
