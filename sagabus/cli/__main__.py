"""`python -m sagabus.cli` is `sagabus`."""

from sagabus.cli import main

main()
