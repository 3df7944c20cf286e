"""The daemon the engine tests run as a subprocess: the example services of `handlers`
and the sagas of `$SAGABUS_TEST_SAGAS` with their timer scheduler (after importing the
modules named in `$SAGABUS_TEST_IMPORTS`, e.g. test contracts), configured by the
`SAGABUS_*` environment like `sagabus run`, stopped by SIGTERM (or killed)."""

from __future__ import annotations

import asyncio
import importlib
import os

from bus import Settings
from bus.daemon import import_package, serve, services_in
from bus.observability.logging import configure_logging
from saga_dsl.engine.wiring import saga_runtime


async def main() -> None:
    settings = Settings.load()
    configure_logging(settings.log_format, settings.log_level)
    for module in os.environ.get("SAGABUS_TEST_IMPORTS", "").split():
        importlib.import_module(module)
    # the contracts first: the sagas are checked against them
    services = services_in(import_package("handlers"))
    runtime = saga_runtime(os.environ["SAGABUS_TEST_SAGAS"])
    await serve(
        settings, [*services, *runtime.endpoints],
        background=[runtime.scheduler], prepare=[runtime.pin],
    )


if __name__ == "__main__":
    asyncio.run(main())
