"""The JSON Schema of the language, for editors: printed by `sagabus schema`, shipped
as saga.schema.json and kept in sync by this test."""

from __future__ import annotations

import json

from dsl_support import REPO, sagabus

from saga_dsl.schema import json_schema, json_schema_text

SHIPPED = REPO / "saga.schema.json"


def test_the_shipped_schema_is_the_current_one() -> None:
    assert SHIPPED.read_text() == json_schema_text(), (
        "saga.schema.json is stale: run `sagabus schema > saga.schema.json`"
    )


def test_schema_command_prints_it() -> None:
    outcome = sagabus("schema")
    assert outcome.exit_code == 0
    assert outcome.output == json_schema_text()


def test_the_schema_names_every_key_of_the_language() -> None:
    schema = json_schema()
    defs = schema["$defs"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == {
        "saga", "version", "description", "start", "correlate", "initial", "states", "any",
    }  # fmt: skip
    assert set(defs["State"]["properties"]) == {
        "description", "send", "publish", "on", "retry", "timeout", "compensate", "end",
    }  # fmt: skip
    assert set(defs["Transition"]["properties"]) == {"if", "set", "goto", "compensate"}
    assert set(defs["Timeout"]["properties"]) == {"after", "set", "goto", "compensate"}
    assert set(defs["Compensation"]["properties"]) == {"send", "publish", "until", "retry"}
    assert all(d.get("additionalProperties") is False for d in defs.values())
    json.dumps(schema)
