"""`sagabus migrate`: order sagas waiting in manual review on version 1 move to a
version 2 that renamed the state, checked first (a dry run prints the plan, a missing
state mapping refuses everything), then go on under version 2. The commands and their
output are the session of docs/operations.md."""

from __future__ import annotations

import re
from pathlib import Path

from engine_cli import sagabus
from engine_support import REPO, deliver, history
from test_engine_operations_doc import exchanges

import handlers.messages as m
from bus.store import SagaRecord, Store, open_store
from bus.wire.contracts import Message
from saga_dsl.engine.endpoint import SagaEndpoint
from saga_dsl.engine.wiring import saga_runtime

SHOWCASE = REPO / "sagas" / "order_processing.yaml"
PAGE = (REPO / "docs" / "operations.md").read_text()
[SESSION] = re.findall(r"^```console\n(\$ sagabus migrate.*?)^```$", PAGE,
                       re.DOTALL | re.MULTILINE)
ORDERS = ("o-1", "o-2")


async def handle(endpoint: SagaEndpoint, store: Store, message: Message) -> None:
    async with store.transaction() as tx:
        await deliver(tx, endpoint, message)


async def records(store: Store) -> dict[str, SagaRecord]:
    async with store.transaction() as tx:
        found = await tx.saga_list(saga="order_processing")
    return {r.correlation: r for r in found}


async def test_waiting_instances_move_to_version_2_and_finish_there(tmp_path: Path) -> None:
    sagas = tmp_path / "sagas"
    sagas.mkdir()
    text = SHOWCASE.read_text()
    (sagas / "order_processing.yaml").write_text(text)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    async with open_store(url) as store:
        [v1] = saga_runtime(sagas).endpoints
        item = m.OrderItem(sku="PIANO-1", quantity=1, unit_price=20_000.0)
        for order in ORDERS:
            await handle(v1, store, m.OrderCreated(
                order_id=order, customer_id="c-1", items=[item], amount=20_000.0))
            await handle(v1, store, m.PaymentSucceeded(
                order_id=order, payment_id=f"p-{order}", amount=20_000.0))
        # version 2 calls the review state `review`; version 1 stays beside it
        (sagas / "order_processing@1.yaml").write_text(text)
        (sagas / "order_processing.yaml").write_text(
            text.replace("version: 1", "version: 2").replace("manual_review", "review"))

        for words, expected in exchanges(SESSION):
            code, out = await sagabus(url, sagas, *words[1:])
            said = out.splitlines()
            assert said == expected, " ".join(words)
            assert code == (2 if expected[0].startswith("sagabus: error") else 0)
            if "--map" not in words or "--dry-run" in words:
                assert {r.definition_version for r in (await records(store)).values()} == {1}

        both = saga_runtime(sagas)
        await both.pin(store)  # nothing left on a version that is not loaded
        [endpoint] = both.endpoints
        await handle(endpoint, store, m.OrderReviewApproved(order_id="o-1"))
        moved = await records(store)
        steps = await history(store, moved["o-1"])
        async with store.transaction() as tx:
            timers = await tx.timers_of(moved["o-2"].id)
    assert (moved["o-1"].definition_version, moved["o-1"].state) == (2, "reserving_inventory")
    assert (moved["o-2"].definition_version, moved["o-2"].state) == (2, "review")
    assert [t.name for t in timers] == ["timeout:review:2"]
    assert [(s.input, s.to_state) for s in steps[-2:]] == [
        ("migrated v1 -> v2 (manual_review -> review)", "review"),
        ("OrderReviewApproved", "reserving_inventory"),
    ]
