"""The console's actions over a real store: refused without the token, without a login
and without the form's CSRF value; with them, an operator action moves an instance.
Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from console_support import SCRIPT, order_machines, record, write

from bus.store.base import Store
from sagabus.console import create_app
from sagabus.console.dead_letters import DeadLetterSource

TOKEN = "s3cret-console-token"


@asynccontextmanager
async def client_of(
    store: Store, token: str | None, dead_letters: DeadLetterSource | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, order_machines(), dead_letters=dead_letters, token=token)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        yield client


async def logged_in(client: httpx.AsyncClient) -> str:
    """Logs in with the token; returns the CSRF value the pages' forms carry."""
    answer = await client.post("/login", data={"token": TOKEN})
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
    page = await client.get("/login")
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found is not None
    return found.group(1)


async def test_without_a_token_every_post_is_refused(store: Store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SAGABUS_CONSOLE_TOKEN", raising=False)
    await write(store, record(1))
    async with client_of(store, None) as client:
        page = await client.get("/instances/inst-0001")
        answers = [
            await client.post("/login", data={"token": "anything"}),
            await client.post("/actions/inst-0001", data={"action": "cancel", "reason": "x"}),
            await client.post("/dead-letters/replay", data={"queue": "q"}),
            await client.post("/dead-letters/purge", data={"queue": "q"}),
            await client.post("/instances/inst-0001", data={}),
        ]
    assert "read-only" in page.text and "Operator actions" not in page.text
    for answer in answers:
        assert answer.status_code == 403, answer.text
        assert "read-only" in answer.text
    async with store.transaction() as tx:
        unchanged = await tx.saga_get("inst-0001")
    assert unchanged is not None and unchanged.status == "running"


async def test_a_wrong_token_a_missing_login_or_csrf_is_refused(store: Store) -> None:
    await write(store, record(1))
    action = {"action": "cancel", "reason": "customer asked"}
    async with client_of(store, TOKEN) as client:
        wrong = await client.post("/login", data={"token": "guess"})
        anonymous = await client.post("/actions/inst-0001", data={**action, "csrf": "00"})
        csrf = await logged_in(client)
        forged = await client.post("/actions/inst-0001", data={**action, "csrf": "0" * 64})
        missing = await client.post("/actions/inst-0001", data=action)
        page = await client.get("/instances/inst-0001")
    assert wrong.status_code == 403 and "not the console" in wrong.text
    assert "set-cookie" not in wrong.headers
    assert anonymous.status_code == 403 and "log in" in anonymous.text
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert missing.status_code == 403 and "CSRF" in missing.text
    assert TOKEN not in page.text and csrf in page.text
    async with store.transaction() as tx:
        unchanged = await tx.saga_get("inst-0001")
    assert unchanged is not None and unchanged.status == "running"


async def test_another_session_csrf_value_is_refused(store: Store) -> None:
    await write(store, record(1))
    async with client_of(store, TOKEN) as first, client_of(store, TOKEN) as second:
        theirs = await logged_in(first)
        await logged_in(second)
        answer = await second.post(
            "/actions/inst-0001", data={"action": "cancel", "reason": "r", "csrf": theirs}
        )
    assert answer.status_code == 403 and "CSRF" in answer.text


async def test_the_operator_cancels_an_instance_from_its_page(store: Store) -> None:
    await write(store, record(1))
    async with client_of(store, TOKEN) as client:
        csrf = await logged_in(client)
        page = await client.get("/instances/inst-0001")
        answer = await client.post(
            "/actions/inst-0001", data={"action": "cancel", "reason": SCRIPT, "csrf": csrf}
        )
        after = await client.get("/instances/inst-0001")
    assert "Operator actions" in page.text and 'value="cancel"' in page.text
    assert answer.status_code == 200, answer.text
    assert "cancel: now" in answer.text
    async with store.transaction() as tx:
        moved = await tx.saga_get("inst-0001")
        history = await tx.history(moved.id) if moved else []
    assert moved is not None and moved.state == "cancelled"
    assert any(row.input == f"operator cancel: {SCRIPT}" for row in history)
    assert SCRIPT not in after.text and "operator cancel: &lt;script&gt;" in after.text


async def test_goto_an_unknown_state_is_refused_and_resume_moves_a_parked_one(
    store: Store,
) -> None:
    data = {"order_id": "o-2", "customer_id": "c-1", "amount": 20.0, "items": []}
    await write(store, record(1), record(2, status="parked", reason="stuck", data=data))
    async with client_of(store, TOKEN) as client:
        csrf = await logged_in(client)
        nowhere = await client.post(
            "/actions/inst-0001",
            data={"action": "goto", "state": "<b>nowhere</b>", "reason": "r", "csrf": csrf},
        )
        resumed = await client.post(
            "/actions/inst-0002", data={"action": "resume", "reason": "fixed", "csrf": csrf}
        )
    assert nowhere.status_code == 409 and "no state" in nowhere.text
    assert "<b>nowhere" not in nowhere.text
    assert resumed.status_code == 200 and "resume: now running" in resumed.text, resumed.text
    async with store.transaction() as tx:
        parked = await tx.saga_get("inst-0002")
    assert parked is not None and parked.status == "running"


async def test_retry_resends_the_commands_of_a_running_instance_and_logout_ends_it(
    store: Store,
) -> None:
    data = {"order_id": "o-1", "customer_id": "c-1", "amount": 20.0, "items": []}
    await write(store, record(1, data=data), record(2, status="parked", reason="stuck"))
    async with client_of(store, TOKEN) as client:
        csrf = await logged_in(client)
        running = await client.get("/instances/inst-0001")
        parked = await client.get("/instances/inst-0002")
        async with store.transaction() as tx:
            before = await tx.outbox_backlog()
        retried = await client.post(
            "/actions/inst-0001", data={"action": "retry", "reason": "gateway back", "csrf": csrf}
        )
        async with store.transaction() as tx:
            after = await tx.outbox_backlog()
        out = await client.post("/logout", data={"csrf": csrf})
        again = await client.post(
            "/actions/inst-0001", data={"action": "retry", "reason": "r", "csrf": csrf}
        )
    assert 'value="retry"' in running.text and 'value="resume"' not in running.text
    assert 'value="resume"' in parked.text and 'value="retry"' not in parked.text
    assert retried.status_code == 200, retried.text
    assert after == before + 1  # ProcessPayment again, in the outbox
    assert out.status_code == 303
    assert again.status_code == 403 and "log in" in again.text
