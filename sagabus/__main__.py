"""`python -m sagabus` is `sagabus`."""

from sagabus.cli import main

main()
