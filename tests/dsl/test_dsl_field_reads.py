"""Field reads without CEL: the same values CEL gives, CEL itself whenever it could differ."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from dsl_support import NOW
from hypothesis import given, settings
from hypothesis import strategies as st

from saga_dsl.expressions import EvaluationError, Scope, compile_expression
from saga_dsl.field_reads import MAX_DEPTH, MAX_SIZE, NOT_READ, field_path, read_field

JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(1 << 63), (1 << 63) - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=12,
)


def through_cel(source: str, scope: Scope) -> str:
    """What the expression gives when CEL evaluates it (in parentheses it is no field
    path), as JSON text with sorted keys: an int and a bool or a double differ."""
    return canonical(compile_expression(f"({source})").evaluate(scope))


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.mark.parametrize(("source", "path"), [
    ("saga.order_id", ("saga", "order_id")),
    (" event . items ", ("event", "items")),
    ("saga.a.b", None), ("now", None), ("event", None), ("saga['x']", None),
    ("event.amount > 1", None), ("size(saga.items)", None),
])
def test_only_one_field_read_is_a_field_path(source: str, path: tuple[str, str] | None) -> None:
    assert field_path(source) == path
    assert compile_expression(source).path == path


@settings(max_examples=200, deadline=None)
@given(value=JSON)
def test_a_field_read_gives_what_cel_gives(value: Any) -> None:
    scope = Scope({"x": value}, {"x": value}, NOW)
    for source in ("event.x", "saga.x"):
        assert canonical(compile_expression(source).evaluate(scope)) == through_cel(
            source, scope)


def test_a_field_read_keeps_the_order_of_a_maps_keys() -> None:
    value = {"sku": "A", "quantity": 1, "unit_price": 2.5, "d": None, "e": [1]}
    result = compile_expression("event.x").evaluate(Scope({"x": [value]}, {}, NOW))
    assert [list(item) for item in result] == [list(value)]
    assert result == [value] and result[0] is not value  # a copy, not the payload's own


@pytest.mark.parametrize("value", [
    1 << 63, -(1 << 63) - 1, [1 << 64], (1, 2), b"ab", {1: "a"}, float("nan"), [float("inf")],
    list(range(MAX_SIZE + 1)), "x" * (MAX_SIZE + 1), {"k" * MAX_SIZE: 1}, nested(MAX_DEPTH + 1),
])
def test_values_cel_could_change_are_left_to_cel(value: Any) -> None:
    assert read_field({"x": value}, "x") is NOT_READ
    scope = Scope({"x": value}, {}, NOW)
    try:
        expected = through_cel("event.x", scope)
    except EvaluationError as exc:
        same = str(exc).replace("'(event.x)'", "'event.x'")
        with pytest.raises(EvaluationError, match=re.escape(same)):
            compile_expression("event.x").evaluate(scope)
    else:
        assert canonical(compile_expression("event.x").evaluate(scope)) == expected


def test_a_missing_field_or_a_root_that_is_not_a_dict_goes_to_cel() -> None:
    assert read_field({"y": 1}, "x") is NOT_READ
    assert read_field([1], "x") is NOT_READ
    with pytest.raises(EvaluationError, match="no field 'payment_id'"):
        compile_expression("saga.payment_id").evaluate(Scope({}, {"id": 1}, NOW))
