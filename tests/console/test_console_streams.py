"""The event stream page as of a time: the aggregate's state rebuilt from the events
recorded at or before it (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

from console_support import SCRIPT, console_client, order_machines
from test_console_pages import run_two_orders

from bus.eventsourcing import EventStore
from bus.store.base import Store

STREAM = "order-o-1"


def versions(page: str) -> list[str]:
    return re.findall(r"<tr>\s*<td>(\d+)</td>", page)


async def test_the_stream_as_of_a_time_stops_at_the_last_event_recorded_by_then(
    store: Store,
) -> None:
    await run_two_orders(store)
    async with store.transaction() as tx:
        recorded = await EventStore(tx).read(STREAM)
    first = recorded[0].recorded_at
    by_then = [r.version for r in recorded if r.recorded_at <= first]
    head = recorded[-1].version
    # a browser's datetime-local value has no offset: the console reads it as UTC
    browser_time = recorded[-1].recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    plus_two = (first + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"
    async with console_client(store, order_machines()) as client:
        at_first = await client.get(f"/streams/{STREAM}", params={"at": first.isoformat()})
        offset = await client.get(f"/streams/{STREAM}", params={"at": plus_two})
        before = await client.get(
            f"/streams/{STREAM}", params={"at": (first - timedelta(days=1)).isoformat()}
        )
        local = await client.get(f"/streams/{STREAM}", params={"at": browser_time})
        bad = await client.get(f"/streams/{STREAM}", params={"at": SCRIPT})
    assert at_first.status_code == 200, at_first.text
    assert versions(at_first.text) == [str(v) for v in by_then]
    assert f"the last event recorded by then is version {by_then[-1]} of {head}" in at_first.text
    assert f"State of OrderAggregate at version {by_then[-1]}" in at_first.text
    assert versions(offset.text) == versions(at_first.text)
    assert versions(before.text) == [] and "version 0 of" in before.text
    assert versions(local.text) == [str(v) for v in range(1, head + 1)]
    assert bad.status_code == 400 and "ISO 8601" in bad.text and SCRIPT not in bad.text
