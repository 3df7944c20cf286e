"""The macros of a CEL expression (`all`, `exists`, `exists_one`, `map`, `filter`):
where they are, what they read, whether their work stays linear, and what they cost.

CEL has no loops, so an expression's work grows with its data only through macros.
Two things are checked when a file is loaded (`linearity_problem`): macros over macros
multiply (`l.map(a, l.map(b, 1))` is quadratic, `.map(a, a + a)` chained doubles the
data each time), so an expression has at most `MAX_MACROS`, none over another's result,
and one inside another's body only over a part of that macro's variable.

What cannot be seen in the source is how big the data is: `saga.big.map(x, saga.big)`
builds a list of lists, and the CEL library's `map` and `filter` copy the list they
build at each element, so their time grows with the square of the list's length
(measured: `map` over 1,000 numbers 0.03 s, over 10,000 numbers 5 s;
`l.map(x, l)` over 300 numbers 6 s). So before an expression runs, `cost` bounds its
work from the sizes of the data it reads, and the caller refuses one over `MAX_COST`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_MACROS = 2
"""Most macro calls in one expression."""

MAX_COST = 2_000_000
"""Budget of one evaluation, in the units of `cost`: `map` or `filter` over about 1,400
elements whose body reads only the element (about 0.05 s here), or `all`/`exists` over
2 million. The worst expression within the budget runs in well under a second."""

DATA_WEIGHT = 10
"""Cost units per character or element of saga or event data a macro's body reads at
each element (copying a list into every result is about ten times the work of adding a
number, measured as above)."""

ACCUMULATING = frozenset({"map", "filter"})
"""Macros that build a list, copying it at each element."""

Read = tuple[str, str | None]
"""`("saga", "items")` for `saga.items`; `("event", None)` for `event` itself."""

_MACRO_CALL = re.compile(
    r"\.\s*(all|exists_one|exists|map|filter)\s*(\()\s*([A-Za-z_]\w*)\s*,"
)
_REFERENCE = re.compile(r"(?<![\w.])(event|saga|now)\b(?:\s*\.\s*([A-Za-z_]\w*))?")
_CLOSING = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True)
class Macro:
    """One macro call in an expression's source (string literals blanked)."""

    name: str
    receiver: int
    """Offset where the expression the macro iterates over starts."""
    dot: int
    body: tuple[int, int]
    variable: str
    receiver_reads: tuple[Read, ...]
    body_reads: tuple[Read, ...]
    outer: int | None
    """Index of the macro whose body holds this one."""


def macros_of(code: str) -> tuple[Macro, ...]:
    """The macros of `code` (an expression with its string literals blanked)."""
    found = []
    for call in _MACRO_CALL.finditer(code):
        start = call.start(2)
        end = _matching(code, start)
        receiver = _receiver_start(code, call.start())
        found.append((call.group(1), receiver, call.start(), (start, end), call.group(3)))
    macros = []
    for name, receiver, dot, body, variable in found:
        outer = next(
            (i for i, other in enumerate(found) if other[3][0] < dot < other[3][1]), None
        )
        macros.append(
            Macro(name, receiver, dot, body, variable, _reads(code[receiver:dot]),
                  _reads(code[body[0] : body[1]]), outer)
        )
    return tuple(macros)


def bound_variables(code: str) -> set[str]:
    """The names macros bind (`x` in `l.map(x, ...)`)."""
    return {call.group(3) for call in _MACRO_CALL.finditer(code)}


def linearity_problem(code: str, macros: Sequence[Macro]) -> tuple[str, int] | None:
    """(message, offset) when the macros of `code` could make the work multiply: more
    than `MAX_MACROS`, one over another's result, or one inside another's body over
    anything but a part of that macro's variable; None when the work stays linear."""
    if len(macros) > MAX_MACROS:
        return (
            f"more than {MAX_MACROS} macros (all, exists, exists_one, map, filter) in one"
            " expression",
            macros[MAX_MACROS].dot,
        )
    for macro in macros:
        for other in macros:
            if other is macro:
                continue
            if macro.receiver <= other.dot < macro.dot:
                return (
                    "a macro over the result of another macro multiplies the work; "
                    "use one macro per list", macro.dot,
                )
            inside = other.body[0] < macro.dot < other.body[1]
            root = re.match(r"[A-Za-z_]\w*", code[macro.receiver :])
            if inside and (root is None or root.group(0) != other.variable):
                return (
                    "a macro inside another macro may only go over a part of that macro's "
                    f"variable ({other.variable}.field), or the work multiplies", macro.dot,
                )
    return None


def cost(
    macros: Sequence[Macro], count: Callable[[Read], int], size: Callable[[Read], int]
) -> int:
    """A bound on the work of the macros on given data: `count(read)` is how many
    elements a value has, `size(read)` its characters and elements, all levels.

    A macro runs its body once per element of the outermost macro's list (an inner
    macro goes over parts of the outer one's elements); a body costs 1 plus
    `DATA_WEIGHT` per unit of data it reads besides its variable; `map` and `filter`
    cost that once more per element, for the list they copy.
    """
    total = 0
    for macro in macros:
        top = macro
        while top.outer is not None:
            top = macros[top.outer]
        elements = sum(count(read) for read in top.receiver_reads) if top.receiver_reads else (
            top.dot - top.receiver  # a literal list has at most one element per character
        )
        body = 1 + DATA_WEIGHT * sum(size(read) for read in macro.body_reads)
        total += elements * body * (elements if macro.name in ACCUMULATING else 1)
    return total


def _reads(code: str) -> tuple[Read, ...]:
    return tuple((m.group(1), m.group(2)) for m in _REFERENCE.finditer(code))


def _matching(code: str, start: int) -> int:
    """Offset of the bracket closing the one at `start` (the end when unclosed)."""
    depth = 0
    for i in range(start, len(code)):
        if code[i] in "([{":
            depth += 1
        elif code[i] in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return len(code)


def _receiver_start(code: str, dot: int) -> int:
    """Where the operand before the `.` at `dot` starts: a chain of names, member
    accesses, calls, indexes and bracketed literals, read backwards."""
    i = dot
    while True:
        j = _before_space(code, i)
        if j > 0 and code[j - 1] in _CLOSING:
            i = _opening(code, j - 1)
        elif j > 0 and _is_word(code[j - 1]):
            i = j
            while i > 0 and _is_word(code[i - 1]):
                i -= 1
        else:
            return i
        j = _before_space(code, i)
        if j > 0 and code[j - 1] == ".":
            i = j - 1
        elif code[i] in "([" and j > 0 and (code[j - 1] in _CLOSING or _is_word(code[j - 1])):
            i = j  # `f(x)` or `a[0]`: go on with the called or indexed operand
        else:
            return i


def _before_space(code: str, i: int) -> int:
    while i > 0 and code[i - 1].isspace():
        i -= 1
    return i


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _opening(code: str, close: int) -> int:
    """Offset of the bracket that the one at `close` closes (0 when unopened)."""
    depth = 0
    for k in range(close, -1, -1):
        if code[k] in _CLOSING:
            depth += 1
        elif code[k] in "([{":
            depth -= 1
            if depth == 0:
                return k
    return 0
