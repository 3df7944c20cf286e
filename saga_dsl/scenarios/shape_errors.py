"""Pydantic errors of a scenario file as diagnostics at their line and column."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from saga_dsl.diagnostics import Report, suggest
from saga_dsl.positioned_yaml import Document

Loc = tuple[int | str, ...]


def report_errors(
    doc: Document, report: Report, error: ValidationError, model: type[BaseModel], prefix: Loc = ()
) -> None:
    """Reports every error of `error` (raised validating `model` at `prefix` of `doc`)."""
    for detail in error.errors(include_url=False):
        if _other_branch(detail):
            continue
        _report(doc, report, detail, model, prefix)


def _report(
    doc: Document, report: Report, detail: ErrorDetails, model: type[BaseModel], prefix: Loc
) -> None:
    loc = prefix + tuple(detail["loc"])
    inner = tuple(part for part in detail["loc"] if not _is_branch(part))
    where = _where(doc, loc) or "the file"
    kind = detail["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        owner = _where(doc, loc[:-1]) or "the top level"
        allowed = _keys_of(model, inner[:-1])
        report.error(doc.key_at(loc), f"unknown key {key!r} in {owner}{suggest(key, allowed)}")
    elif kind == "missing":
        owner = _where(doc, loc[:-1]) or "the top level"
        report.error(doc.at(loc[:-1]), f"missing key {str(loc[-1])!r} in {owner}")
    else:
        report.error(doc.at(loc), f"{where}: {_message(detail)}")


def _other_branch(detail: ErrorDetails) -> bool:
    """The `str` branch of `Type | {command, with}` failing on a mapping: noise."""
    return detail["type"] == "string_type" and isinstance(detail.get("input"), dict)


def _is_branch(part: int | str) -> bool:
    """Pydantic names the union member it tried (`Sent`, `str`): not a place in the file."""
    return isinstance(part, str) and (part[:1].isupper() or part in ("str", "function-after"))


def _where(doc: Document, loc: Loc) -> str:
    text = ""
    for part in doc.resolve(loc):
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _message(detail: ErrorDetails) -> str:
    msg = detail["msg"]
    got = detail.get("input")
    shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
    return f"{msg[0].lower()}{msg[1:]}{shown}"


def _keys_of(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys of the model found by following `loc` down from `model`."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = _field(current, part)
        if field is None:
            return []
        current = field
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _field(model: Any, key: str) -> Any:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    for name, field in model.model_fields.items():
        if (field.alias or name) == key:
            return _model_in(field.annotation)
    return None


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside `list[X] | None`, `X | None`, ..., if any."""
    stack = [annotation]
    while stack:
        current = stack.pop()
        if isinstance(current, type) and issubclass(current, BaseModel):
            return current
        stack.extend(getattr(current, "__args__", ()))
    return None
