"""The `sagabus` command line (composition root: may import both `bus` and `saga_dsl`)."""

from bus.cli.app import main

__all__ = ["main"]
