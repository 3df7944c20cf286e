"""Reading YAML safely, with positions."""

from __future__ import annotations

from saga_dsl.diagnostics import Position, Report
from saga_dsl.positioned_yaml import Document, parse


def load(text: str) -> tuple[Document | None, list[str]]:
    report = Report("f.yaml")
    doc = parse(text, report)
    return doc, [str(d) for d in report.sorted()]


def test_positions_of_keys_and_values_are_kept() -> None:
    doc, problems = load("saga: x\nstates:\n  a:\n    end: success\n")
    assert doc is not None and problems == []
    assert doc.key_at(("states", "a")) == Position(3, 3)
    assert doc.at(("states", "a", "end")) == Position(4, 10)


def test_on_yes_and_no_stay_strings_and_only_true_false_are_booleans() -> None:
    doc, _ = load("on: yes\nno: off\nt: true\nn: ~\ni: 0x10\nf: 1.5e3\n")
    assert doc is not None
    assert doc.data == {"on": "yes", "no": "off", "t": True, "n": None, "i": 16, "f": 1500.0}


def test_quoted_scalars_are_strings() -> None:
    doc, _ = load("a: '1'\nb: \"true\"\nc: !!str 5\n")
    assert doc is not None
    assert doc.data == {"a": "1", "b": "true", "c": "5"}


def test_duplicate_keys_are_errors_at_the_second_one() -> None:
    _, problems = load("a: 1\nb: 2\na: 3\n")
    assert problems == ["f.yaml:3:1: error: duplicate key 'a' (first defined at line 1, column 1)"]


def test_aliases_are_refused_before_any_expansion() -> None:
    _, problems = load("a: &x [1, 2]\nb: *x\n")
    assert problems == [
        "f.yaml:1:4: error: anchors (&x) are not allowed in saga files; write the value out"
    ]


def test_complex_keys_are_refused() -> None:
    _, problems = load("? [a, b]\n: 1\n")
    assert problems == [
        "f.yaml:1:3: error: mapping keys must be plain names, not mappings or lists"
    ]


def test_point_is_exact_inside_plain_and_quoted_one_line_scalars() -> None:
    doc, _ = load('a: x ${ y }\nb: "x ${ y }"\nc: |\n  x ${ y }\n')
    assert doc is not None
    assert doc.point(("a",), 2) == Position(1, 6)
    assert doc.point(("b",), 2) == Position(2, 7)
    assert doc.point(("c",), 2) == Position(3, 4)


def test_resolve_skips_parts_that_are_not_in_the_data() -> None:
    doc, _ = load("on:\n  E: {goto: b}\n")
    assert doc is not None
    assert doc.resolve(("on", "E", 0, "Transition", "goto")) == ("on", "E", "goto")
