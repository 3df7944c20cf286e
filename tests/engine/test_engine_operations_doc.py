"""The operator-action session of docs/operations.md runs as written: each `$ sagabus`
line on a store holding one order saga instance, its output compared line for line, and
the history the page shows read back from the store."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
from pathlib import Path

from engine_support import REPO, deliver, history, instances

import handlers.messages as m
from bus.store import open_store
from saga_dsl.engine.wiring import saga_runtime

PAGE = REPO / "docs" / "operations.md"
SECTION = PAGE.read_text().split("## Operator actions on a saga instance", 1)[1]
[SESSION, HISTORY, *_] = re.findall(r"^```console\n(.*?)^```$", SECTION,
                                   re.DOTALL | re.MULTILINE)


def exchanges(session: str) -> list[tuple[list[str], list[str]]]:
    """(command words, expected output lines) of each `$ ` line of `session`."""
    found: list[tuple[list[str], list[str]]] = []
    for line in session.splitlines():
        if line.startswith("$ "):
            found.append((shlex.split(line[2:]), []))
        else:
            found[-1][1].append(line)
    return found


async def run(words: list[str], store: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "SAGABUS_NAMESPACE"}
    env["SAGABUS_STORE"] = store
    env.pop("SAGABUS_LOG_LEVEL", None)
    assert words[0] == "sagabus"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sagabus", *words[1:], cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return out.decode().splitlines()


async def test_the_operator_session_of_the_page_runs_as_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    [endpoint] = saga_runtime(REPO / "sagas").endpoints
    item = m.OrderItem(sku="BOOK-1", quantity=1, unit_price=25.0)
    created = m.OrderCreated(order_id="o-1001", customer_id="c-1", items=[item], amount=25.0)
    async with open_store(url) as store:
        async with store.transaction() as tx:
            await deliver(tx, endpoint, created)
        for words, expected in exchanges(SESSION):
            assert await run(words, url) == expected, " ".join(words)
        [record] = (await instances(store)).values()
        steps = await history(store, record)
    shown = [f"{s.input} -> {s.to_state}" for s in steps[1:]]
    assert shown == exchanges(HISTORY)[0][1]
