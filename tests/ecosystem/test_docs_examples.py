"""docs/scheduled-sends-and-replies.md's example, run as written against RabbitMQ."""

from __future__ import annotations

import importlib.util
import re
import time
import uuid
from pathlib import Path
from types import ModuleType

import pytest
from support.buses import BusFactory

from bus.settings import Settings
from bus.store import Store
from bus.unitofwork.scheduled import ScheduledSends, release_scheduled
from handlers.payments import CHARGES, payments

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "scheduled-sends-and-replies.md"


def example(tmp_path: Path) -> ModuleType:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    [runnable] = [b for b in blocks if b.startswith('"""')]
    path = tmp_path / "replies_example.py"
    path.write_text(runnable)
    spec = importlib.util.spec_from_file_location("replies_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_documented_request_gets_both_answers(
    make_bus: BusFactory, settings: Settings, tmp_path: Path
) -> None:
    docs = example(tmp_path)
    await make_bus([payments])
    assert await docs.charge(settings, f"o-{uuid.uuid4().hex[:6]}", 20.0) == "PaymentSucceeded"
    assert await docs.charge(settings, f"o-{uuid.uuid4().hex[:6]}", 60_000.0) == "PaymentFailed"


async def test_the_documented_scheduled_send_charges_after_its_delay(
    make_bus: BusFactory, settings: Settings, store: Store, tmp_path: Path, eventually
) -> None:
    docs = example(tmp_path)
    await make_bus([payments, ScheduledSends()], background=[release_scheduled])
    order_id = f"o-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    await docs.charge_later(settings, order_id, 20.0)

    async def charged() -> bool:
        async with store.transaction() as tx:
            return await tx.state_get(CHARGES, order_id) is not None

    await eventually(charged, timeout=15, what="the scheduled charge")
    assert time.monotonic() - started >= 1.0
