"""The reduced chaos run, part of `make test`: 100 order sagas through two daemons on
PostgreSQL (never quietly on SQLite: without PostgreSQL it skips, which fails the run
unless skips were allowed, see tests/conftest.py) while daemons are killed and
restarted, RabbitMQ's app is stopped and started, deliveries are duplicated and services
fail transiently - and every invariant of `run.py` holds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from live_services import services_missing
from run import AMQP_URL, BROKER, DUPLICATE, PG_URL, SIGKILL, TRANSIENT, Config, run

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(400),
    pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="rabbitmqctl is not installed"),
]


async def test_100_sagas_under_every_kind_of_fault_lose_nothing_and_do_nothing_twice(
    tmp_path: Path,
) -> None:
    missing = await services_missing(AMQP_URL, PG_URL)
    if missing is not None:
        pytest.skip(missing)
    config = Config(
        sagas=100, daemons=2, store="postgres",
        seed=7, kills=3, broker_restarts=2, duplicate_rate=0.05, failure_rate=0.05,
        placing=20.0, within=180.0, workdir=tmp_path,
    )
    result = await run(config)
    print(result.table())
    assert result.ok, "\n".join(result.violations[:20])
    assert result.lost == 0 and result.duplicated == 0
    assert result.faults[SIGKILL] == 3 and result.faults[BROKER] == 2
    assert result.faults[DUPLICATE] >= 3 and result.faults[TRANSIENT] >= 3
