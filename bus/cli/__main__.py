"""`python -m bus.cli` is `sagabus`."""

from bus.cli import main

main()
