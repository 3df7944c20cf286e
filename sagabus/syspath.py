"""The working directory first on `sys.path`, the way uvicorn and celery put it.

Apart from `sagabus.imports` (which imports the user's code and with it the bus's
contracts), so that every command can set the path and still load only what it needs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def put_on_path(*directories: str | Path) -> None:
    """Puts the working directory first on `sys.path`, then each of `directories`,
    once each."""
    wanted = [os.getcwd(), *(str(Path(d).resolve()) for d in directories)]
    for directory in reversed(wanted):
        while directory in sys.path:
            sys.path.remove(directory)
        sys.path.insert(0, directory)
    if "" in sys.path:  # the interpreter's "current directory" entry: now explicit
        sys.path.remove("")
