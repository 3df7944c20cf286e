"""What the reliability tests share: the order saga with chosen waits, and running the
`sagabus` command line without blocking the event loop (the test's broker handle and
raw frames are `support.broker`)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.sagas import REPO, rewrite_saga


def patient_order_saga(directory: Path, wait: str = "10m") -> Path:
    """The real order saga with every resend and timeout set to `wait`, so that only
    what the test does moves an instance (nor does a dead-lettered command: the saga
    does not listen to `CommandFaulted`); returns the directory."""

    def be_patient(saga: dict[str, Any]) -> None:
        for state in saga["states"].values():
            for wait_of in ("retry", "timeout"):
                if wait_of in state:
                    state[wait_of]["after"] = wait
            state.get("on", {}).pop("CommandFaulted", None)

    return rewrite_saga(directory, be_patient)


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


async def sagabus(*args: str, env: dict[str, str] | None = None, within: float = 60) -> Ran:
    """Runs `sagabus ARGS` in a subprocess (the dlq commands registered) without
    blocking the event loop, where the bus under test runs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sagabus.cli.dlq; from sagabus.cli import main; main()", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(REPO),
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


PLACEHOLDER = b"\x00PLACEHOLDER\x00"


def new_id() -> str:
    return str(uuid.uuid4())


def words(text: str) -> str:
    """`text` with runs of white space (a table's wrapping) made single spaces."""
    return re.sub(r"\s+", " ", text)
