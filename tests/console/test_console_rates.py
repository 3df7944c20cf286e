"""The overview's instances started and finished per minute, by saga version and
outcome, from the store (SQLite and PostgreSQL), inside the part that refreshes."""

from __future__ import annotations

import re
from datetime import timedelta

from console_support import HOSTILE, SAGA, console_client, order_machines, record, write

from bus.store.base import Store
from bus.wire.envelope import utcnow
from sagabus.console.rates import sparkline


def cells(page: str, saga: str, version: int) -> list[str]:
    """The started, completed and failed cells of one saga version's row."""
    found = re.search(
        rf"<tr>\s*<td>{re.escape(saga)}</td><td>{version}</td>(.*?)</tr>", page, re.DOTALL
    )
    assert found is not None, page
    return [c.strip() for c in re.findall(r'<td class="rate[^"]*">(.*?)</td>', found.group(1))]


async def test_the_overview_counts_started_and_finished_per_minute(store: Store) -> None:
    now = utcnow()
    ago = [now - timedelta(minutes=m) for m in (0, 2, 3, 40)]
    await write(
        store,
        record(1, created_at=ago[1], updated_at=ago[0]),
        record(2, created_at=ago[1], updated_at=ago[1], status="completed", state="completed"),
        record(3, created_at=ago[2], updated_at=ago[1], status="failed", state="cancelled"),
        record(4, created_at=ago[3], updated_at=ago[3], status="completed", state="completed"),
        record(5, created_at=ago[0], updated_at=ago[0], definition_version=2),
        record(6, created_at=ago[0], updated_at=ago[0], saga=HOSTILE),
    )
    async with console_client(store, order_machines()) as client:
        page = await client.get("/")
    assert page.status_code == 200
    live = page.text.split('id="live"', 1)[1].split("</section>", 1)[0]
    assert "Started and finished per minute" in live  # refreshed with the counts
    started, completed, failed = cells(page.text, SAGA, 1)
    assert started.endswith("</span> 3") and completed.endswith("</span> 1")
    assert failed.endswith("</span> 1")
    assert re.search(r"oldest first: (0 ){14}1\"", cells(page.text, SAGA, 2)[0])
    assert cells(page.text, SAGA, 2)[1:] == ["0", "0"]
    assert HOSTILE not in page.text
    assert cells(page.text, "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;", 1)[1:] == ["0", "0"]


def test_a_sparkline_scales_to_the_busiest_minute() -> None:
    assert sparkline([0, 0, 0]) == "▁▁▁"
    assert sparkline([0, 1, 10, 5, 100]) == "▁▂▃▂█"
    assert sparkline([0, 1, 10, 5]) == "▁▃█▅"
    assert sparkline([]) == ""
