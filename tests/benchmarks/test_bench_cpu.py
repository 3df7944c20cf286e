"""`bench.cpu`: a process of the watched name that ends inside the block still counts
(a part's connection pool closes before the block ends: PostgreSQL's backends exit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.cpu import measuring

BURN = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass"


def test_a_process_that_exits_during_the_block_is_counted(tmp_path: Path) -> None:
    # the command name (/proc/PID/comm) is the name of the file executed
    burner = tmp_path / "sagabus-burner"
    burner.symlink_to(sys.executable)
    with measuring(database=burner.name) as measured:
        subprocess.run([str(burner), "-c", BURN], check=True)
    # 0.6 s of CPU burned, less what it spent after its last reading (start-up included)
    assert measured.share.database >= 0.3, measured.share
    assert measured.share.bench < measured.share.database
