"""The AsyncAPI document: valid against the official AsyncAPI 3.0 JSON Schema (vendored
from npm `@asyncapi/specs` 6.11.1), true to the contracts, and true to the broker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ecosystem_support import dangling_refs, schema_errors
from support.broker import TestBroker as Broker

import handlers  # noqa: F401  (registers the example contracts)
from bus.daemon import import_package, services_in
from bus.unitofwork.runtime import bus_topology
from bus.wire.contracts import Event, Registry, registry
from bus.wire.envelope import Envelope
from bus.wire.transport import Outcome, Publication, WireMessage
from saga_dsl.saga_files import load_directory
from sagabus.asyncapi import asyncapi_document
from sagabus.participants import participants

ROOT = Path(__file__).resolve().parents[2]


def example_document(namespace: str = "sagabus") -> dict[str, Any]:
    services = services_in(import_package("handlers"))
    sagas = load_directory(ROOT / "sagas", registry=registry)
    assert sagas.ok, sagas.diagnostics
    return asyncapi_document(
        registry, participants(services, sagas.definitions), namespace=namespace
    )


def test_the_example_document_is_valid_asyncapi_3() -> None:
    document = example_document()
    assert schema_errors(document) == []
    assert dangling_refs(document) == []


def test_the_schema_check_rejects_a_broken_document() -> None:
    document = example_document()
    document["channels"]["commands.ProcessPayment"]["bindings"]["amqp"]["exchange"]["type"] = "x"
    del document["operations"]["payments.receive.ProcessPayment"]["action"]
    assert len(schema_errors(document)) >= 2


def test_commands_and_events_are_routed_as_on_the_wire() -> None:
    document = example_document("shop")
    command = document["channels"]["commands.ProcessPayment"]
    event = document["channels"]["events.OrderCompleted"]
    assert command["address"] == "ProcessPayment"
    assert command["bindings"]["amqp"]["exchange"] | {} == {
        "name": "shop.commands", "type": "direct", "durable": True, "autoDelete": False,
        "vhost": "/",
    }
    assert event["bindings"]["amqp"]["exchange"]["name"] == "shop.events"
    assert event["bindings"]["amqp"]["exchange"]["type"] == "topic"


def test_services_receive_and_sagas_send_their_messages() -> None:
    operations = example_document()["operations"]
    assert operations["payments.receive.ProcessPayment"]["action"] == "receive"
    assert operations["saga.order_processing.send.ProcessPayment"]["action"] == "send"
    assert operations["saga.order_processing.receive.OrderCreated"]["action"] == "receive"
    assert operations["saga.order_processing.send.CompleteOrder"]["action"] == "send"
    assert operations["saga.order_processing.receive.PaymentRefunded"]["action"] == "receive"
    assert "payments.send.ProcessPayment" not in operations
    assert operations["payments.send.PaymentSucceeded"]["action"] == "send"
    assert operations["orders.send.OrderCompleted"]["action"] == "send"


def test_message_payloads_are_the_contracts_schemas() -> None:
    messages = example_document()["components"]["messages"]
    payload = messages["ProcessPayment"]["payload"]
    assert set(payload["required"]) >= {"order_id", "amount"}
    assert messages["ProcessPayment"]["x-sagabus-kind"] == "command"
    assert messages["OrderCompleted"]["bindings"]["amqp"]["messageType"] == "OrderCompleted"


def test_nested_models_become_component_schemas_and_versions_read_are_listed() -> None:
    contracts = Registry()

    class Line(Event):
        __abstract__ = True
        sku: str

    class Ordered(Event):
        __version__ = 3
        lines: list[Line]

    contracts.register(Ordered)
    contracts.upcaster("Ordered", 2)(lambda payload: payload)
    document = asyncapi_document(contracts, [])
    message = document["components"]["messages"]["Ordered"]
    assert message["payload"]["properties"]["lines"]["items"] == {
        "$ref": "#/components/schemas/Line"
    }
    assert "sku" in document["components"]["schemas"]["Line"]["properties"]
    assert message["x-sagabus-versions-read"] == [2, 3]
    assert schema_errors(document) == []
    assert dangling_refs(document) == []


def test_the_cli_prints_the_document_as_yaml_and_json(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sagabus.cli", "asyncapi"], cwd=ROOT, capture_output=True,
        text=True, check=True, timeout=60,
    )
    document = yaml.safe_load(out.stdout)
    assert document["asyncapi"] == "3.0.0"
    assert schema_errors(document) == []
    target = tmp_path / "asyncapi.json"
    subprocess.run(
        [sys.executable, "-m", "sagabus.cli", "asyncapi", "--format", "json",
         "--namespace", "shop", "-o", str(target)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )
    assert json.loads(target.read_text())["channels"]["commands.CreateOrder"]["bindings"][
        "amqp"]["exchange"]["name"] == "shop.commands"


@pytest.mark.integration
async def test_every_receive_operation_reaches_its_queue_on_rabbitmq(broker: Broker) -> None:
    """Publishing as the document says (exchange, routing key, mandatory) reaches a queue
    of the topology a running bus declares, for every operation a participant receives."""
    services = services_in(import_package("handlers"))
    sagas = load_directory(ROOT / "sagas", registry=registry).definitions
    from saga_dsl.engine.wiring import saga_runtime

    endpoints = [*services, *saga_runtime(ROOT / "sagas").endpoints]
    await broker.declare(bus_topology(broker.names, endpoints, "classic"))
    document = asyncapi_document(
        registry, participants(services, sagas), namespace=broker.names.namespace
    )
    publications = []
    for operation in document["operations"].values():
        if operation["action"] != "receive":
            continue
        channel = document["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
        exchange = channel["bindings"]["amqp"]["exchange"]["name"]
        envelope = Envelope(type=channel["address"], kind="event", payload={})
        publications.append(
            Publication(exchange, channel["address"], WireMessage.of(envelope), mandatory=True)
        )
    assert len(publications) > 10
    outcomes = await broker.transport.publish(publications)
    assert set(outcomes) == {Outcome.CONFIRMED}
