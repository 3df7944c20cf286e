"""The daemon and the command line as users run them: subprocesses, signals, exit codes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest
from bus_test_support import state
from live_services import AMQP_URL
from support.broker import TestBroker
from support.daemons import daemon_env, exit_code
from support.ledger_services import LEDGER, BtCharge, BtCharged, audit, ledger

from bus import BusClient, Settings, Store
from bus.unitofwork.runtime import bus_topology
from bus.wire.topology import Names

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
SUPPORT = HERE.parent / "support"
"""On the daemons' PYTHONPATH (not tests/ itself: its bus/ would shadow the package)."""
HANDLERS = "ledger_services"
"""The daemons' --handlers: `support.ledger_services`, imported from SUPPORT."""
SAGABUS = str(Path(sys.executable).parent / "sagabus")


async def start(args: list[str], settings: Settings, log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            *args,
            env=daemon_env(settings, HERE, SUPPORT, SAGABUS_RELAY_INTERVAL="0.2"),
            stdout=out,
            stderr=out,
        )


def has_started(log: Path) -> bool:
    return b"bus started" in log.read_bytes()


async def started(log: Path, process: asyncio.subprocess.Process, within: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not has_started(log):
        if process.returncode is not None or asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"daemon did not start (exit {process.returncode}):\n{read(log)}")
        await asyncio.sleep(0.05)


def read(log: Path) -> str:
    return log.read_text()


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
async def test_sigkill_after_commit_before_ack_causes_no_second_effect(
    broker: TestBroker,
    settings: Settings,
    store: Store,
    names: Names,
    tmp_path: Path,
    eventually,
) -> None:
    broker.track(bus_topology(names, [ledger, audit], settings.queue_type))
    probe = await broker.probe(events=["BtCharged"])
    queue = names.queue(LEDGER)
    crash_log = tmp_path / "crash.log"
    crashing = await start([sys.executable, str(HERE / "crash_daemon.py")], settings, crash_log)
    try:
        await started(crash_log, crashing)
        charge_id = uuid.uuid4().hex
        async with BusClient(settings) as client:
            await client.send(BtCharge(charge_id=charge_id))
        assert await exit_code(crashing, within=20) == -signal.SIGKILL
    finally:
        if crashing.returncode is None:
            crashing.kill()
    # committed, never acknowledged, its event never published
    assert await state(store, LEDGER, charge_id) == {"count": 1, "runs": 1}
    async with store.transaction() as tx:
        assert await tx.outbox_backlog() == 1
    await eventually(lambda: broker.depth(queue), what="delivery back in the queue")
    assert probe.received == []

    run_log = tmp_path / "run.log"
    daemon = await start([SAGABUS, "run", "--no-sagas", "--handlers", HANDLERS], settings, run_log)
    try:
        await started(run_log, daemon)
        later = uuid.uuid4().hex
        async with BusClient(settings) as client:
            await client.send(BtCharge(charge_id=later))
        await eventually(lambda: state(store, LEDGER, later), what="later charge handled")
        assert await state(store, LEDGER, charge_id) == {"count": 1, "runs": 1}
        await eventually(lambda: len(probe.of_type("BtCharged")) == 2)
        published = [d.envelope().payload["charge_id"] for d in probe.received]
        assert sorted(published) == sorted([charge_id, later])
        daemon.send_signal(signal.SIGTERM)
        assert await exit_code(daemon, within=20) == 0, read(run_log)
    finally:
        if daemon.returncode is None:
            daemon.kill()
    assert "bus stopped" in read(run_log)
    assert BtCharged.message_type() == "BtCharged"


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        SAGABUS,
        *args,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(SUPPORT)]), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def send_charge(data: str, type_name: str = "BtCharge") -> list[str]:
    """`sagabus send` of `type_name` with the JSON text `data`, on the ledger's contracts."""
    return ["send", type_name, "--data", data, "--contracts", HANDLERS]


BAD_INPUT = {
    "malformed JSON": (
        send_charge("{bad"),
        "sagabus: error: --data is not valid JSON",
    ),
    "JSON that is no object": (
        send_charge("[1]"),
        "sagabus: error: --data must be a JSON object, not list",
    ),
    "unknown type": (
        send_charge("{}", type_name="BtChrage"),
        "sagabus: error: unknown message type 'BtChrage' (did you mean BtCharge?)",
    ),
    "payload failing the contract": (
        send_charge('{"amount": "lots"}'),
        "sagabus: error: BtCharge: charge_id: Field required; amount: Input should be a valid",
    ),
    "broker unreachable": (
        [*send_charge('{"charge_id": "c"}'), "--amqp-url", "amqp://guest:s3cret@127.0.0.1:1/"],
        "sagabus: error: cannot connect to RabbitMQ at amqp://guest:***@127.0.0.1:1/",
    ),
    "malformed AMQP URL": (
        ["publish", "BtCharged", "--data", "{}", "--amqp-url", "http://guest:s3cret@host/"],
        "sagabus: error: malformed AMQP URL http://guest:***@host/",
    ),
    "daemon with broker unreachable": (
        [
            "run",
            "--no-sagas",
            "--handlers",
            HANDLERS,
            "--amqp-url",
            "amqp://u:s3cret@127.0.0.1:1/",
            "--store",
            "sqlite:///:memory:",
        ],
        "sagabus: error: cannot connect to RabbitMQ at amqp://u:***@127.0.0.1:1/",
    ),
    "daemon with unknown handlers module": (
        ["run", "--no-sagas", "--handlers", "no_such_handlers", "--store", "sqlite:///:memory:"],
        "sagabus: error: cannot import 'no_such_handlers': no such module",
    ),
}


async def test_cli_bad_input_exits_2_with_one_line() -> None:
    results = await asyncio.gather(*(cli(*args) for args, _ in BAD_INPUT.values()))
    for (case, (_, expected)), (code, out, err) in zip(BAD_INPUT.items(), results, strict=True):
        assert code == 2, f"{case}: exit {code}\n{err}"
        assert out == "", case
        assert len(err.strip().splitlines()) == 1, f"{case}: {err}"
        assert err.startswith(expected), f"{case}: {err}"
        assert "s3cret" not in err, case


async def test_cli_send_of_unhandled_command_exits_2_unroutable(
    broker: TestBroker, namespace: str
) -> None:
    code, _, err = await cli(
        *send_charge('{"charge_id": "c"}'),
        env={"SAGABUS_NAMESPACE": namespace, "SAGABUS_AMQP_URL": AMQP_URL},
    )
    assert code == 2
    assert err.startswith("sagabus: error: no queue is bound for command BtCharge"), err


async def test_cli_send_reaches_the_handler(
    make_bus, store: Store, namespace: str, eventually
) -> None:
    await make_bus([ledger])
    charge_id = uuid.uuid4().hex
    code, out, err = await cli(
        "send",
        "BtCharge",
        "--data",
        f'{{"charge_id": "{charge_id}"}}',
        "--correlation-id",
        "order-9",
        "--contracts",
        HANDLERS,
        env={"SAGABUS_NAMESPACE": namespace, "SAGABUS_AMQP_URL": AMQP_URL},
    )
    assert code == 0, err
    assert out.startswith("sent BtCharge ")
    await eventually(lambda: state(store, LEDGER, charge_id))
