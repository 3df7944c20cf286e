"""The `otel` extra is enough to trace: `opentelemetry-instrument sagabus run`, set up
by the standard OTEL_* variables, exports a span for every handled message."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from eco_services import EcoPing, EcoPong, echo
from support.broker import TestBroker as Broker
from support.daemons import SAGABUS_RUN, daemon_env, daemon_running

from bus.settings import Settings
from bus.unitofwork.runtime import bus_topology
from bus.unitofwork.scheduled import ScheduledSends
from bus.wire.client import BusClient

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


async def test_opentelemetry_instrument_exports_the_handler_spans(
    broker: Broker, settings: Settings, tmp_path: Path
) -> None:
    instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    if instrument is None:
        pytest.skip("opentelemetry-instrument is missing: pip install 'sagabus[otel]'")
    (tmp_path / "pyproject.toml").write_text('[tool.sagabus]\nservices = ["eco_services"]\n')
    env = daemon_env(
        settings, HERE, drop=("SAGABUS_", "OTEL_"),
        OTEL_SERVICE_NAME="sagabus-test", OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none",
    )
    broker.track(bus_topology(broker.names, [echo, ScheduledSends()], "classic"))
    log = tmp_path / "daemon.log"
    async with daemon_running(
        instrument, *SAGABUS_RUN, "--no-sagas", cwd=tmp_path, env=env, log=log
    ):
        assert "tracing on" in log.read_text(), log.read_text()
        async with BusClient(settings) as client:
            await client.request(EcoPing(n=9), reply=EcoPong, timeout=15)
    # the batch span processor exports at shutdown at the latest
    assert '"name": "eco-echo EcoPing"' in log.read_text(), log.read_text()[-2000:]
