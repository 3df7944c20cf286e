"""`--where` on the CLI's operator actions and on migrate: `sagabus cancel --where
status=parked --where saga=order_processing` acts on every instance the filter selects
(`--dry-run` counts them and changes nothing), one outcome line per reason; `migrate
--where correlation=...` moves only the instances it names. Bad selections are one line
and exit 2. On SQLite and PostgreSQL, through the CLI as a process."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from engine_cli import sagabus
from engine_support import REPO, order_saga
from test_engine_operations_doc import exchanges

from bus.store import SagaRecord, Store, open_store

T0 = datetime(2030, 1, 1, tzinfo=UTC)
PAGE = (REPO / "docs" / "operations.md").read_text()
[SESSION] = re.findall(r"^### On every instance a filter selects\n.*?^```console\n(.*?)^```$",
                       PAGE, re.DOTALL | re.MULTILINE)


def waiting(n: int, status: str, state: str = "awaiting_payment") -> SagaRecord:
    at = T0 + timedelta(seconds=n)
    return SagaRecord(id=f"w-{n:03d}", saga="order_processing", definition_version=1,
                      correlation=f"o-{n}", state=state,
                      data={"order_id": f"o-{n}", "customer_id": "c-1", "amount": 10.0,
                            "items": [{"sku": "S-1", "quantity": 1, "unit_price": 10.0}]},
                      status=status, created_at=at, updated_at=at)  # type: ignore[arg-type]


async def statuses(store: Store) -> dict[str, tuple[str, str]]:
    async with store.transaction() as tx:
        found = await tx.saga_list(saga="order_processing")
    return {r.correlation: (r.status, r.state) for r in found}


@pytest.fixture
def sagas(tmp_path: Path) -> Path:
    return order_saga(tmp_path / "sagas")


async def test_cancel_where_acts_on_the_selection_only(store_url: str, sagas: Path) -> None:
    async with open_store(store_url) as store:
        async with store.transaction() as tx:
            for n in range(3):
                await tx.saga_insert(waiting(n, "parked"))
            await tx.saga_insert(waiting(7, "running"))
        where = ("--where", "status=parked", "--where", "saga=order_processing")
        dry = await sagabus(store_url, sagas, "cancel", *where, "--reason", "r", "--dry-run")
        before = await statuses(store)
        done = await sagabus(store_url, sagas, "cancel", *where, "--reason", "bulk cancel")
        after = await statuses(store)
    assert dry == (0, "cancel would apply to 3 instance(s) where saga=order_processing "
                      "status=parked; dry run: nothing changed")
    assert {status for status, _ in before.values()} == {"parked", "running"}
    assert done == (0, "cancel: 3 done, 0 with nothing to do, 0 refused, of 3."), done
    assert after["o-7"] == ("running", "awaiting_payment")
    assert all(after[f"o-{n}"] != before[f"o-{n}"] for n in range(3))
    assert all(after[f"o-{n}"][0] != "parked" for n in range(3))


@pytest.mark.parametrize(("args", "said"), [
    (("cancel", "--where", "sttus=parked", "--reason", "r"),
     "unknown key 'sttus' (did you mean 'status'?)"),
    (("cancel", "o-1", "--where", "status=parked", "--reason", "r"),
     "give an instance or --where, not both"),
    (("cancel", "--reason", "r"), "name an instance (id or correlation value), or select"),
    (("resume", "o-1", "--dry-run"), "--dry-run goes with --where"),
    (("cancel", "--where", "status=lost", "--reason", "r"), "status must be one of"),
    (("cancel", "--where", "status", "--reason", "r"), "--where takes KEY=VALUE"),
    (("migrate", "order_processing", "--from", "1", "--to", "1", "--where", "status=parked"),
     "migrate --where takes state and correlation"),
])
async def test_a_bad_selection_is_one_line_and_exit_2(
    store_url: str, sagas: Path, args: tuple[str, ...], said: str,
) -> None:
    async with open_store(store_url):
        pass  # the store exists: the refusal is about the selection
    code, out = await sagabus(store_url, sagas, *args)
    assert code == 2 and said in out and len(out.splitlines()) == 1, out


async def test_goto_where_takes_the_state_as_its_one_argument(
    store_url: str, sagas: Path,
) -> None:
    async with open_store(store_url) as store:
        async with store.transaction() as tx:
            await tx.saga_insert(waiting(1, "parked"))
            await tx.saga_insert(waiting(2, "running"))
        code, out = await sagabus(store_url, sagas, "goto", "reserving_inventory",
                                  "--where", "correlation=o-1", "--reason", "paid by hand")
        after = await statuses(store)
    assert (code, out) == (0, "goto: 1 done, 0 with nothing to do, 0 refused, of 1.")
    assert after["o-1"][1] == "reserving_inventory"
    assert after["o-2"] == ("running", "awaiting_payment")


async def test_migrate_where_moves_only_the_instances_it_names(
    store_url: str, sagas: Path,
) -> None:
    text = (sagas / "order_processing.yaml").read_text()
    (sagas / "order_processing@1.yaml").write_text(text)
    (sagas / "order_processing.yaml").write_text(
        text.replace("version: 1", "version: 2").replace("manual_review", "review"))
    async with open_store(store_url) as store:
        async with store.transaction() as tx:
            for n in (1, 2):
                record = waiting(n, "running")
                record.state = "manual_review"
                await tx.saga_insert(record)
        code, out = await sagabus(store_url, sagas, "migrate", "order_processing",
                                  "--from", "1", "--to", "2", "--map", "manual_review=review",
                                  "--where", "correlation=o-1")
        async with store.transaction() as tx:
            found = {r.correlation: r for r in await tx.saga_list(saga="order_processing")}
    assert code == 0, out
    assert out.splitlines()[0] == "order_processing v1 -> v2: 1 instance(s) to move"
    assert out.splitlines()[-1] == "moved 1 instance(s)"
    assert (found["o-1"].definition_version, found["o-1"].state) == (2, "review")
    assert (found["o-2"].definition_version, found["o-2"].state) == (1, "manual_review")


async def test_the_session_of_the_operations_page_runs_as_written(
    store_url: str, sagas: Path,
) -> None:
    async with open_store(store_url) as store:
        async with store.transaction() as tx:
            await tx.saga_insert(waiting(1, "parked", "voiding_payment"))
            await tx.saga_insert(waiting(2, "parked", "voiding_payment"))
            await tx.saga_insert(waiting(3, "parked"))
            await tx.saga_insert(waiting(1001, "running"))
        for words, expected in exchanges(SESSION):
            code, said = await sagabus(store_url, sagas, *words[1:])
            assert (code, said.splitlines()) == (0, expected), " ".join(words)
        after = await statuses(store)
    assert after["o-1001"] == ("running", "reserving_inventory")
    assert after["o-3"] == ("parked", "awaiting_payment")
    assert {after["o-1"][0], after["o-2"][0]} == {"failed"}
