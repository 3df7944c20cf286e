"""The `sagabus` command line (composition root: may import both `bus` and `saga_dsl`)."""

from sagabus.cli.app import main

__all__ = ["main"]
