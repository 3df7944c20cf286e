"""What the ecosystem tests share besides fixtures: the checks of an AsyncAPI document
(a module of its own name, so that importing it never meets another directory's
conftest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

ASYNCAPI_SCHEMA = json.loads(
    (Path(__file__).parent / "fixtures" / "asyncapi-3.0.0.schema.json").read_text()
)
"""The official AsyncAPI 3.0.0 JSON Schema, from npm `@asyncapi/specs` 6.11.1."""


def schema_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(ASYNCAPI_SCHEMA)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def dangling_refs(document: dict[str, Any]) -> list[str]:
    """Every `$ref` of the document that does not lead to a node of the document."""
    missing: list[str] = []

    def resolve(ref: str) -> None:
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            if not isinstance(node, dict) or part not in node:
                missing.append(ref)
                return
            node = node[part]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "$ref" and isinstance(item, str):
                    resolve(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    return missing
