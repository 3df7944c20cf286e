"""The pure parts of the dead-letter tooling: what a replay sends, where it sends it,
and which queue a name means."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bus.deadletters import republishing as deadletter
from bus.deadletters.operations import (
    REPLAYS,
    DeadLetter,
    NotReplayable,
    dead_letter_queues,
    dlq_of,
    replayed,
)
from bus.unitofwork.retry import RetryPolicy
from bus.wire.topology import Names, endpoint_queues
from bus.wire.transport import WireMessage

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def letter(**headers: object) -> DeadLetter:
    message = WireMessage(body=b'{"a": 1}', message_id="m-1", type="ProcessPayment",
                          correlation_id="c-1", headers=headers)
    return DeadLetter("t1.payments.dlq", message)


def test_a_replay_keeps_body_and_ids_restarts_the_attempts_and_counts_itself() -> None:
    dead = letter(**{
        deadletter.ATTEMPTS: 5, deadletter.REASON: "failed 5 attempt(s)",
        deadletter.TRACEBACK: "Traceback ...", deadletter.ORIGIN_QUEUE: "t1.payments",
        deadletter.ORIGINAL_EXCHANGE: "t1.commands", "causation_id": "k-1", REPLAYS: 2,
    })
    sent = replayed(dead.message, NOW)
    assert (sent.body, sent.message_id, sent.correlation_id) == (b'{"a": 1}', "m-1", "c-1")
    assert deadletter.ATTEMPTS not in sent.headers and deadletter.REASON not in sent.headers
    assert deadletter.TRACEBACK not in sent.headers
    assert sent.headers[REPLAYS] == 3
    assert sent.headers["causation_id"] == "k-1"
    assert sent.headers[deadletter.ORIGINAL_EXCHANGE] == "t1.commands"


def test_a_replay_goes_to_the_origin_queue_else_to_the_original_exchange() -> None:
    assert letter(**{deadletter.ORIGIN_QUEUE: "t1.payments"}).destination() == ("", "t1.payments")
    parked = letter(**{deadletter.ORIGINAL_EXCHANGE: "t1.commands",
                       deadletter.ORIGINAL_ROUTING_KEY: b"ProcessPayment"})
    assert parked.destination() == ("t1.commands", "ProcessPayment")
    with pytest.raises(NotReplayable, match=r"m-1 in t1\.payments\.dlq names no origin"):
        letter().destination()


def test_summary_fields_survive_headers_of_the_wrong_type() -> None:
    dead = letter(**{deadletter.ATTEMPTS: "many", deadletter.REASON: 7,
                     deadletter.LAST_FAILURE: {"not": "a time"}, REPLAYS: True})
    assert (dead.attempts, dead.replays, dead.reason) == (0, 0, "(no reason given)")
    assert dead.age(NOW) is None
    died = letter(**{deadletter.LAST_FAILURE: (NOW - timedelta(minutes=5)).isoformat()})
    assert died.age(NOW) == 300


def test_queue_names_resolve_to_dead_letter_queues() -> None:
    names = Names("t1")
    assert dlq_of(names, "payments") == "t1.payments.dlq"
    assert dlq_of(names, "t1.payments") == "t1.payments.dlq"
    assert dlq_of(names, "t1.payments.dlq") == "t1.payments.dlq"
    assert dlq_of(names, "t1.unroutable") == "t1.unroutable"
    topology = endpoint_queues(names, "payments", commands=["ProcessPayment"], events=[],
                               retry=RetryPolicy(), queue_type="classic")
    assert dead_letter_queues(names, topology) == ["t1.payments.dlq", "t1.unroutable"]


async def test_the_tooling_runs_on_the_in_memory_transport() -> None:
    from bus.deadletters.operations import DeadLetterQueues
    from bus.wire.memory import InMemoryTransport
    from bus.wire.topology import DEFAULT_EXCHANGE, QueueSpec, Topology
    from bus.wire.transport import NoSuchQueue, Publication

    transport = InMemoryTransport()
    await transport.connect()
    await transport.declare(Topology(queues=(QueueSpec("t1.payments"),
                                             QueueSpec("t1.payments.dlq"))))
    dlq = "t1.payments.dlq"
    home = {deadletter.ORIGIN_QUEUE: "t1.payments"}
    letters = [
        WireMessage(b"{}", message_id=f"m-{n}", type="ProcessPayment", headers=headers)
        for n, headers in enumerate([home, {}, home])
    ]
    await transport.publish([Publication(DEFAULT_EXCHANGE, dlq, m) for m in letters])
    async with DeadLetterQueues(transport) as box:
        assert [d.id for d in await box.browse(dlq)] == ["m-0", "m-1", "m-2"]
        assert await box.depth("t1.nothing") is None
        one = await box.replay(dlq, message_id="m-2", now=NOW)
        assert [d.id for d in one.replayed] == ["m-2"] and one.kept == []
        rest = await box.replay(dlq, now=NOW)
        assert [d.id for d in rest.replayed] == ["m-0"]
        assert [(d.id, "no origin" in why) for d, why in rest.kept] == [("m-1", True)]
        assert [d.id for d in await box.browse(dlq)] == ["m-1"]
        assert await box.purge(dlq) == 1
        with pytest.raises(NoSuchQueue):
            await box.purge("t1.nothing")
    back = transport.broker.messages("t1.payments")
    assert [(m.message_id, m.headers[REPLAYS]) for m in back] == [("m-2", 1), ("m-0", 1)]
