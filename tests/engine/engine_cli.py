"""The `sagabus` command line in a child process, as an operator runs it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from engine_support import REPO


async def sagabus(store_url: str, sagas: Path, *args: str) -> tuple[int, str]:
    """Runs `sagabus *args` on the store at `store_url` (its namespace already in the URL)
    and the saga directory `sagas`: the exit code and what it printed, stripped."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SAGABUS_NAMESPACE", "SAGABUS_LOG_LEVEL")}
    env.update({"SAGABUS_STORE": store_url, "SAGABUS_SAGAS": str(sagas)})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sagabus", *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode().strip()
