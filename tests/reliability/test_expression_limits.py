"""Saga expressions reach nothing but their inputs, and no expression can make the
daemon run for ever or eat its memory: each attempt is refused when the file is loaded,
or stopped with an evaluation error."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from reliability_support import REPO

import saga_dsl
from saga_dsl import EventInput
from saga_dsl.expressions import (
    MAX_RESULT_SIZE,
    EvaluationError,
    ExpressionError,
    OverBudget,
    Scope,
    compile_expression,
    compile_text,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "source",
    [
        "event.__class__",
        "saga.__dict__",
        "event.items.map(x, x.__class__)",
        "__import__('os').system('true')",
        "event['__class__'].__mro__",
    ],
)
def test_python_internals_are_out_of_reach(source: str) -> None:
    with pytest.raises(ExpressionError, match="is not allowed"):
        compile_expression(source)


@pytest.mark.parametrize("source", ["globals", "os.environ", "open('/etc/passwd')", "self"])
def test_names_other_than_the_inputs_are_unknown(source: str) -> None:
    with pytest.raises(ExpressionError, match=r"unknown (name|function)"):
        compile_expression(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        # 16 bytes doubled 40 times is 16 TiB: the CEL library aborts the process
        ("['xxxxxxxxxxxxxxxx']" + ".map(a, a + a)" * 40, "more than 2 macros"),
        ("['x'].map(a, a + a).map(b, b + b)", "over the result of another macro"),
        # a cross product of a list from the event with itself
        ("event.l.map(a, event.l.map(b, 1))", "may only go over a part of"),
        ("size(saga.l.filter(a, [1, 2].exists(b, b == a))) > 0", "may only go over a part of"),
    ],
)
def test_expressions_whose_work_multiplies_are_refused_when_loaded(
    source: str, message: str
) -> None:
    with pytest.raises(ExpressionError, match=message):
        compile_expression(source)


@pytest.mark.parametrize(
    "source",
    [
        "event.items.all(i, i.sku != '') && size(event.items.map(x, x.sku)) > 0",
        "event.items.exists(i, i.tags.exists(t, t == 'gift'))",
        "event.items.filter(i, i.quantity > 1)",
        "[1, 2, 3].map(x, x * 2)",
    ],
)
def test_ordinary_macros_still_compile(source: str) -> None:
    compile_expression(source)


def test_a_result_past_the_size_limit_is_an_evaluation_error() -> None:
    half = "x" * (MAX_RESULT_SIZE // 2 + 1)
    scope = Scope({"s": half}, {}, NOW)
    with pytest.raises(EvaluationError, match="bigger than"):
        compile_expression("event.s + event.s").evaluate(scope)
    with pytest.raises(EvaluationError, match="bigger than"):
        compile_text("${ [event.s, event.s] }").render(scope)
    assert compile_expression("size(event.s + event.s)").evaluate(scope) == 2 * len(half)


REFUSED = "ExpressionError: CEL syntax error: "


@pytest.mark.parametrize(
    ("nesting", "outcome"),
    [
        # brackets: the parser stops at its recursion limit, the file is refused
        ("(", REFUSED),
        ("[", REFUSED),
        # 990 unary operators: the parser folds them in pairs, leaving the literal
        ("!", "value: 1"),
        ("-", "value: 1"),
    ],
)
def test_deeply_nested_source_is_refused_or_bounded_without_crashing(
    nesting: str, outcome: str
) -> None:
    """Run apart: a parser that recursed without bound would take the process down."""
    closing = {"(": ")", "[": "]"}.get(nesting, "")
    source = nesting * 990 + "1" + closing * 990
    code = (
        "import sys\n"
        "from saga_dsl.expressions import compile_expression, Scope\n"
        "try:\n"
        "    value = compile_expression(sys.argv[1]).evaluate(Scope({}, {}, None))\n"
        "except Exception as exc:\n"
        "    print(f'{type(exc).__name__}: {exc}')\n"
        "else:\n"
        "    print(f'value: {value!r}')\n"
    )
    ran = subprocess.run([sys.executable, "-c", code, source], cwd=REPO, capture_output=True,
                         text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stderr[-2000:]
    [line] = ran.stdout.splitlines()
    if outcome == REFUSED:
        assert line.startswith(REFUSED) and "Recursion limit of 96 exceeded" in line, line
    else:
        assert line == outcome


BIG = list(range(1_000))


def test_a_macro_over_its_cost_budget_is_refused_before_it_runs() -> None:
    """Unbounded, this took 30 s to 2 min of CPU on the event loop."""
    scope = Scope({}, {"big": BIG}, NOW)
    expression = compile_expression("saga.big.map(x, saga.big)")
    started = time.perf_counter()
    with pytest.raises(OverBudget) as refused:
        expression.evaluate(scope)
    assert time.perf_counter() - started < 0.1
    assert str(refused.value) == (
        "'saga.big.map(x, saga.big)' would cost 20,001,000,000 units on this data, over the"
        " budget of 2,000,000 (the work of map and filter grows with the square of the"
        " list's length, and with the data their body reads)"
    )


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("size(saga.big.map(x, x + 1))", 1_000),
        ("saga.big.exists(x, x in saga.small)", True),
        ("size(saga.big.filter(x, x > 500))", 499),
    ],
)
def test_macros_within_the_budget_run(source: str, value: object) -> None:
    scope = Scope({}, {"big": BIG, "small": [999]}, NOW)
    assert compile_expression(source).evaluate(scope) == value


def test_validate_warns_of_a_macro_that_reads_data_for_every_element() -> None:
    text = (
        "saga: pairs\nversion: 1\nstart:\n  on: Go\n  set: {big: '${ event.big }'}\n"
        "initial: pairing\nstates:\n  pairing:\n    on:\n      Pair:\n"
        "        set: {pairs: '${ saga.big.map(x, saga.big) }'}\n        goto: done\n"
        "  done: {end: success}\n"
    )
    result = saga_dsl.load(text, name="saga.yaml")
    assert [str(d) for d in result.diagnostics] == [
        "saga.yaml:11:25: warning: map reads saga.big for every element of its list: the work"
        " grows with the product of their sizes (an evaluation over its cost budget is"
        " refused)"
    ]


def test_an_event_over_the_budget_fails_its_message_and_leaves_the_instance() -> None:
    machine = saga_dsl.compile(saga_dsl.load(
        "saga: pairs\nversion: 1\nstart:\n  on: Go\n  set: {big: '${ event.big }'}\n"
        "initial: pairing\nstates:\n  pairing:\n    on:\n      Pair:\n"
        "        set: {pairs: '${ saga.big.map(x, saga.big) }'}\n        goto: done\n"
        "  done: {end: success}\n",
        name="saga.yaml",
    ).definition)  # type: ignore[arg-type]
    started = machine.start(EventInput("Go", {"big": BIG}), NOW)
    with pytest.raises(OverBudget):
        machine.handle(started.instance, EventInput("Pair", {}), NOW)
