"""What the reliability tests share: the broker and store they run on, the order saga
with chosen waits, running the `sagabus` command line without blocking the event loop,
and publishing frames no well-behaved client would send."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiormq.abc import ChannelFrame
from live_services import AMQP_URL, rabbitmq_unreachable  # noqa: F401  (re-exported)
from pamqp import commands as spec
from pamqp import frame as pamqp_frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from bus.wire.rabbitmq import RabbitMQTransport
from bus.wire.topology import Names, QueueSpec, Topology, exchanges

HERE = Path(__file__).parent
REPO = HERE.parent.parent
ORDER_SAGA = REPO / "sagas" / "order_processing.yaml"



class Broker:
    """The test's own connection, and the topologies to delete when the test ends."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.transport = RabbitMQTransport(AMQP_URL, name="sagabus-tests")
        self.tracked = exchanges(names) + Topology(queues=(QueueSpec(names.unroutable),))

    def track(self, topology: Topology) -> None:
        self.tracked = self.tracked + topology


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML reads `on:` as the boolean true (YAML 1.1); saga files mean the key."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def patient_order_saga(directory: Path, wait: str = "10m") -> Path:
    """The real order saga with every resend and timeout set to `wait`, so that only
    what the test does moves an instance; returns the directory."""
    saga: dict[str, Any] = yaml.load(ORDER_SAGA.read_text(), Loader=_Yaml12Loader)
    for state in saga["states"].values():
        if "retry" in state:
            state["retry"]["after"] = wait
        if "timeout" in state:
            state["timeout"]["after"] = wait
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "order_processing.yaml").write_text(yaml.safe_dump(saga, sort_keys=False))
    return directory


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


async def sagabus(*args: str, env: dict[str, str] | None = None, within: float = 60) -> Ran:
    """Runs `sagabus ARGS` in a subprocess (the dlq commands registered) without
    blocking the event loop, where the bus under test runs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sagabus.cli.dlq; from sagabus.cli import main; main()", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(REPO),
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


PLACEHOLDER = b"\x00PLACEHOLDER\x00"


async def publish_raw_frames(
    transport: RabbitMQTransport,
    exchange: str,
    routing_key: str,
    body: bytes,
    properties: spec.Basic.Properties,
    patch: tuple[bytes, bytes] | None = None,
) -> None:
    """Publishes one message by writing its frames, after replacing `patch[0]` with
    `patch[1]` in their bytes: properties no AMQP library would encode (invalid UTF-8
    in a short string, a timestamp past year 9999), as a foreign client might send."""
    connection = transport._connection
    assert connection is not None
    channel = await connection.channel(publisher_confirms=False)
    raw = await channel.get_underlay_channel()
    frames = b"".join(
        pamqp_frame.marshal(f, raw.number)
        for f in (
            spec.Basic.Publish(exchange=exchange, routing_key=routing_key),
            ContentHeader(properties=properties, body_size=len(body)),
            ContentBody(body),
        )
    )
    if patch is not None:
        old, new = patch
        assert len(old) == len(new) and frames.count(old) == 1, "the patch must fit in place"
        frames = frames.replace(old, new)
    drained = asyncio.get_running_loop().create_future()
    await raw.write_queue.put(  # type: ignore[attr-defined]
        ChannelFrame(payload=frames, should_close=False, drain_future=drained)
    )
    await drained
    await channel.close()


def new_id() -> str:
    return str(uuid.uuid4())


def words(text: str) -> str:
    """`text` with runs of white space (a table's wrapping) made single spaces."""
    return re.sub(r"\s+", " ", text)
