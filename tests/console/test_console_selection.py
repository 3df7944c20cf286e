"""The console's actions on a filtered set of instances, over a real store (SQLite and
PostgreSQL): refused without the token, the login or the CSRF value; with them, a
first POST counts and asks, the second acts on each instance through the engine's
operations and reports how many were done, had nothing to do, or were refused why."""

from __future__ import annotations

import html
import re

from console_support import HOSTILE, SCRIPT, record, write
from test_console_actions import TOKEN, client_of, logged_in

from bus.store.base import Store

PARKED = {"order_id": "o-x", "customer_id": "c-1", "amount": 20.0, "items": []}


def confirmed_form(page: str) -> dict[str, str]:
    """The hidden fields of a confirmation page's form."""
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return {name: html.unescape(value) for name, value in fields}


async def statuses(store: Store) -> dict[str, str]:
    async with store.transaction() as tx:
        found = await tx.saga_list(saga="order_processing")
    return {r.id: f"{r.status} {r.state}" for r in found}


async def test_without_the_token_the_list_has_no_form_and_a_post_is_refused(
    store: Store, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.delenv("SAGABUS_CONSOLE_TOKEN", raising=False)
    await write(store, record(1, status="parked", reason="stuck", data=PARKED))
    form = {"where_status": "parked", "action": "resume", "reason": "r", "expected": "1"}
    async with client_of(store, None) as client:
        page = await client.get("/instances?status=parked")
        answer = await client.post("/selection/actions", data=form)
    async with client_of(store, TOKEN) as client:
        anonymous = await client.post("/selection/actions", data={**form, "csrf": "00"})
        csrf = await logged_in(client)
        forged = await client.post("/selection/actions", data={**form, "csrf": "0" * 64})
        everything = await client.post(
            "/selection/actions", data={"action": "cancel", "reason": "r", "csrf": csrf}
        )
    assert "/selection/actions" not in page.text
    assert answer.status_code == 403 and "read-only" in answer.text
    assert anonymous.status_code == 403 and "log in" in anonymous.text
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert everything.status_code == 403 and "at least one of saga" in everything.text
    assert await statuses(store) == {"inst-0001": "parked awaiting_payment"}


async def test_resume_the_parked_ones_after_confirming_their_count(store: Store) -> None:
    parked = [record(n, status="parked", reason="gateway down", data=PARKED) for n in (1, 2, 3)]
    await write(store, *parked, record(4), record(5, status="completed", state="completed"))
    async with client_of(store, TOKEN) as client:
        csrf = await logged_in(client)
        listing = await client.get("/instances?status=parked")
        asked = await client.post(
            "/selection/actions",
            data={"where_status": "parked", "action": "resume", "reason": SCRIPT, "csrf": csrf},
        )
        unchanged = await statuses(store)
        done = await client.post("/selection/actions", data=confirmed_form(asked.text))
    assert 'action="/selection/actions"' in listing.text
    assert 'name="where_status" value="parked"' in listing.text
    assert asked.status_code == 200, asked.text
    assert "<strong>3</strong> instance(s)" in asked.text and "Resume these 3" in asked.text
    assert SCRIPT not in asked.text and "&lt;script&gt;" in asked.text
    assert confirmed_form(asked.text)["expected"] == "3"
    assert list(unchanged.values()).count("parked awaiting_payment") == 3  # asking did nothing
    assert done.status_code == 200, done.text
    assert "resume: 3 done, 0 with nothing to do, 0 refused, of 3." in done.text
    after = await statuses(store)
    assert [after[f"inst-000{n}"] for n in (1, 2, 3)] == ["running awaiting_payment"] * 3
    assert after["inst-0005"] == "completed completed"
    async with store.transaction() as tx:
        history = await tx.history("inst-0002")
    assert any(row.input == f"operator resume: {SCRIPT}" for row in history)


async def test_refusals_are_counted_by_why_and_a_grown_selection_asks_again(
    store: Store,
) -> None:
    await write(
        store,
        record(1),
        record(2),
        record(3, status="completed", state="completed"),
        record(4, definition_version=9),
    )
    where = {"where_saga": "order_processing"}
    async with client_of(store, TOKEN) as client:
        csrf = await logged_in(client)
        cancel = {**where, "action": "cancel", "reason": "recall", "csrf": csrf}
        grown = await client.post("/selection/actions", data={**cancel, "expected": "3"})
        before = await statuses(store)
        done = await client.post("/selection/actions", data={**cancel, "expected": "4"})
    assert grown.status_code == 409 and "More instances match now" in grown.text
    assert confirmed_form(grown.text)["expected"] == "4"
    assert before["inst-0001"] == "running awaiting_payment"
    assert done.status_code == 200, done.text
    assert "cancel: 2 done, 1 with nothing to do, 1 refused, of 4." in done.text
    assert "refused 1: order_processing v9 is not among the loaded saga files" in done.text
    after = await statuses(store)
    assert after["inst-0001"].endswith("cancelled") and after["inst-0002"].endswith("cancelled")
    assert after["inst-0004"] == "running awaiting_payment"


async def test_goto_needs_a_state_and_hostile_filter_values_are_escaped(store: Store) -> None:
    await write(store, record(1), record(2, state="shipping"))
    async with client_of(store, TOKEN) as client:
        csrf = await logged_in(client)
        base = {"where_saga": "order_processing", "reason": "r", "csrf": csrf}
        no_state = await client.post("/selection/actions", data={**base, "action": "goto"})
        hostile = await client.post(
            "/selection/actions",
            data={**base, "where_state": HOSTILE, "action": "goto", "state": HOSTILE},
        )
        nowhere = await client.post(
            "/selection/actions",
            data={**base, "action": "goto", "state": "nowhere", "expected": "2"},
        )
        bad = await client.post(
            "/selection/actions", data={**base, "where_version": "x", "action": "cancel"}
        )
    assert no_state.status_code == 403 and "goto needs the state" in no_state.text
    assert hostile.status_code == 200 and "No instance matches" in hostile.text
    assert HOSTILE not in hostile.text and "&#34;&gt;&lt;img src=x" in hostile.text
    assert "goto: 0 done, 0 with nothing to do, 2 refused, of 2." in nowhere.text
    assert "refused 2:" in nowhere.text and "nowhere" in nowhere.text
    assert bad.status_code == 403 and "whole number" in bad.text
    assert set((await statuses(store)).values()) == {
        "running awaiting_payment", "running shipping"
    }  # fmt: skip


async def test_the_selection_keeps_the_list_filters_in_its_back_link(store: Store) -> None:
    await write(store, record(1, status="parked", reason="r", data=PARKED))
    async with client_of(store, TOKEN) as client:
        csrf = await logged_in(client)
        asked = await client.post(
            "/selection/actions",
            data={"where_status": "parked", "where_correlation": "o-1", "action": "retry",
                  "reason": "again", "csrf": csrf},
        )  # fmt: skip
    assert 'href="/instances?status=parked&amp;correlation=o-1"' in asked.text, asked.text
