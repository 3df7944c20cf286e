"""Expressions: CEL compiled at load time, templates, run-time failures, JSON results."""

from __future__ import annotations

import pytest
from dsl_support import NOW

from saga_dsl.expressions import (
    EvaluationError,
    ExpressionError,
    Literal,
    Scope,
    Text,
    Whole,
    blank_strings,
    compile_expression,
    compile_text,
)

CONTEXT = Scope({"amount": 12_000.0, "items": [{"sku": "A"}]}, {"id": "o-1"}, NOW)


def test_a_guard_mixing_int_and_double_evaluates() -> None:
    assert compile_expression("event.amount > 10000 && saga.id == 'o-1'").evaluate(CONTEXT) is True


def test_references_name_the_fields_read_outside_string_literals() -> None:
    expression = compile_expression('saga.id + " saga.fake " + event.items[0].sku')
    assert {(r.root, r.name) for r in expression.references} == {("saga", "id"), ("event", "items")}


def test_macro_variables_are_not_unknown_names() -> None:
    expression = compile_expression(
        "event.items.all(i, i.sku != '') && event.items.map(x, x.sku).size() > 0"
    )
    assert expression.evaluate(CONTEXT) is True


@pytest.mark.parametrize(
    ("source", "message", "offset"),
    [
        ("event.amount >", "CEL syntax error: the expression ends too early", 14),
        ("order.id", "unknown name 'order' (expressions start from event, saga or now)", 0),
        ("evnt.id", "did you mean 'event'?", 0),
        ("sizee(saga.items)", "unknown function 'sizee'; did you mean 'size'?", 0),
        ("event.__class__", "'__class__' is not allowed", 6),
        ("saga.x.__dict__", "'__dict__' is not allowed", 7),
        ("__import__('os')", "'__import__' is not allowed", 0),
        ("", "empty expression", 0),
        ("1 + " * 600 + "1", "expression is longer than 2000 characters", 0),
    ],
)
def test_bad_expressions_are_refused_with_an_offset(source: str, message: str, offset: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert message in caught.value.message
    assert caught.value.offset == offset


def test_dunder_inside_a_string_literal_is_just_text() -> None:
    assert compile_expression("'__class__'").evaluate(CONTEXT) == "__class__"


def test_a_missing_field_is_an_evaluation_error_not_a_key_error() -> None:
    with pytest.raises(EvaluationError, match="no field 'payment_id'"):
        compile_expression("event.payment_id").evaluate(CONTEXT)


@pytest.mark.parametrize("source", ["1 / 0", "event.items[5]", "1 + 2.0", "event.amount.x"])
def test_runtime_failures_are_evaluation_errors(source: str) -> None:
    with pytest.raises(EvaluationError):
        compile_expression(source).evaluate(CONTEXT)


def test_results_become_json_values() -> None:
    assert compile_expression("now").evaluate(CONTEXT) == "2026-01-01T12:00:00Z"
    assert compile_expression("duration('90s')").evaluate(CONTEXT) == "90s"
    assert compile_expression("b'hi'").evaluate(CONTEXT) == "aGk="
    with pytest.raises(EvaluationError, match="not a JSON number"):
        compile_expression("1.0 / 0.0").evaluate(CONTEXT)


def test_a_value_that_is_one_expression_keeps_its_type() -> None:
    template = compile_text("${ event.items }")
    assert isinstance(template, Whole)
    assert template.render(CONTEXT) == [{"sku": "A"}]


def test_text_around_expressions_makes_a_string() -> None:
    template = compile_text("order ${ saga.id } costs ${ event.amount } (${ true })")
    assert isinstance(template, Text)
    assert template.render(CONTEXT) == "order o-1 costs 12000.0 (true)"


def test_plain_text_and_escaped_dollar_braces_are_literals() -> None:
    assert compile_text("no expression") == Literal("no expression")
    assert compile_text("costs $${ 5 }").render(CONTEXT) == "costs ${ 5 }"


def test_braces_inside_an_expression_do_not_end_it() -> None:
    assert compile_text("${ {'a': '}'}.a }").render(CONTEXT) == "}"


def test_an_unterminated_expression_points_at_its_start() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_text("id ${ saga.id")
    assert caught.value.offset == 3


def test_blank_strings_keeps_offsets() -> None:
    source = 'saga.a + \'x.y\' + "q\\"z"'
    blanked = blank_strings(source)
    assert len(blanked) == len(source)
    assert "x.y" not in blanked and "saga.a" in blanked


def test_durations_in_expressions_are_cel_durations() -> None:
    assert compile_expression("now + duration('1h') > now").evaluate(CONTEXT) is True


def test_a_scope_converts_each_combination_of_roots_once() -> None:
    scope = Scope({"a": 1}, {"b": 2}, NOW)
    first = compile_expression("event.a + saga.b")
    assert first.roots == {"event", "saga"}
    assert first.evaluate(scope) == 3
    assert scope.for_cel(first.roots) is scope.for_cel(frozenset({"saga", "event"}))
