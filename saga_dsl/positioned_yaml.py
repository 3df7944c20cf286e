"""Safe YAML reading that remembers where every key and value came from.

PyYAML's loaders lose positions, keep the last of two duplicate keys without a word,
expand aliases without limit and read `on:` as the boolean `True` (YAML 1.1). This
module builds plain data (dict, list, str, int, float, bool, None) from libyaml's event
stream instead, iteratively, so that:

- every node's position is kept (`Document.at`, `Document.key_at`, `Document.point`);
- duplicate keys, anchors/aliases and explicit tags are errors (no alias bombs, no
  Python objects);
- nesting depth and file size are bounded, so no input can exhaust the stack or memory;
- plain scalars follow the YAML 1.2 core schema: only `true`/`false` are booleans, so
  `on`, `yes` and `no` stay strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from saga_dsl.diagnostics import START, Position, Report

MAX_SOURCE_BYTES = 524_288
"""Largest saga file accepted (512 KiB, about 2,000 richly commented states); a bigger
one is refused before it is parsed, so that no file takes more than a second."""

MAX_VALUES = 50_000
"""Most YAML values (scalars, mappings, lists) in one file: ten times a big saga."""

MAX_DEPTH = 32
"""Deepest nesting of mappings and sequences accepted; a saga needs about eight."""

Loc = tuple[str | int, ...]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}
_ALWAYS_TEXT = frozenset("abcdeghijklmopqrsuvwxyzABCDEGHIJKLMOPQRSUVWXYZ_$\"'/")
"""First characters no plain null, boolean or number starts with."""
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


class YamlProblem(Exception):
    """A reason to stop reading: the file cannot be turned into data."""

    def __init__(self, at: Position, message: str) -> None:
        super().__init__(message)
        self.at = at
        self.message = message


@dataclass
class Document:
    """Plain data read from YAML, with the position of every node and key."""

    data: Any
    text: str = ""
    values: dict[Loc, Position] = field(default_factory=dict)
    keys: dict[Loc, Position] = field(default_factory=dict)
    scalars: dict[Loc, tuple[int, int, str | None]] = field(default_factory=dict)
    """String scalars: (start index, end index, style) in `text`."""

    def resolve(self, loc: Sequence[Any]) -> Loc:
        """The longest real path in the data that `loc` names.

        Parts that do not name a key or index (a pydantic union branch, a list index
        added for a value written as a single mapping) are skipped.
        """
        path: list[str | int] = []
        node = self.data
        for part in loc:
            if _has(node, part):
                node = node[part]
                path.append(part)
        return tuple(path)

    def at(self, loc: Sequence[Any]) -> Position:
        """Position of the value at `loc` (or of the nearest enclosing node)."""
        path = self.resolve(loc)
        while path and path not in self.values:
            path = path[:-1]
        return self.values.get(path, START)

    def key_at(self, loc: Sequence[Any]) -> Position:
        """Position of the key that holds the value at `loc`; of the value if none."""
        path = self.resolve(loc)
        return self.keys.get(path) or self.at(path)

    def point(self, loc: Sequence[Any], index: int) -> Position:
        """Position of character `index` of the string at `loc`, as exactly as known.

        Exact for a one-line plain or quoted scalar without escapes; otherwise the
        position of the scalar itself.
        """
        return self.locator(loc)(index)

    def locator(self, loc: Sequence[Any]) -> Callable[[int], Position]:
        """`point` for one string, with the lookups done once."""
        path = self.resolve(loc)
        at = self.at(path)
        shift = self._quote_width(path)
        if shift is None:
            return lambda _index: at
        return lambda index: Position(at.line, at.col + shift + index)

    def _quote_width(self, path: Loc) -> int | None:
        """0 or 1 when the scalar's text is its value (unquoted / quoted), else None."""
        source = self.scalars.get(path)
        value = _get(self.data, path)
        if source is None or not isinstance(value, str):
            return None
        start, end, style = source
        if self.text.find("\n", start, end) >= 0:
            return None
        raw = self.text[start:end]
        if style is None and raw == value:
            return 0
        if style in ("'", '"') and raw[1:-1] == value:
            return 1
        return None


def read_file(path: Path, report: Report) -> str | None:
    """The text of a saga or scenario file; reports and returns None when it cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        report.error(START, f"cannot read the file: {exc.strerror or exc}")
        return None
    return read_source(raw, report)


def read_source(raw: bytes, report: Report) -> str | None:
    """Decodes a saga file, refusing oversized and non-UTF-8 input."""
    if _too_large(len(raw), report):
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        at = _position_of(raw[: exc.start].decode("utf-8", "replace"), exc.start)
        report.error(at, f"file is not UTF-8 text (byte 0x{raw[exc.start]:02x}); is it binary?")
        return None


def parse(text: str, report: Report) -> Document | None:
    """Reads one YAML document into a `Document`; reports and returns None on failure."""
    if _too_large(len(text.encode("utf-8")), report):
        return None
    try:
        return _build(text)
    except YamlProblem as problem:
        report.error(problem.at, problem.message)
    except yaml.MarkedYAMLError as exc:
        at, message = _explain_syntax_error(text, exc)
        report.error(at, message)
    except yaml.reader.ReaderError as exc:
        report.error(
            _position_of(text, exc.position),
            f"YAML: {exc.reason} (character #x{exc.character:04x})",
        )
    except yaml.YAMLError as exc:
        report.error(START, f"YAML: {exc}")
    return None


_NODE_EVENTS = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)


def _build(text: str) -> Document:
    """Turns libyaml's event stream into data, one event at a time (no recursion)."""
    builder = _Builder(Document(data=None, text=text))
    documents = 0
    loader = _LOADER(text)
    try:
        while True:
            event = loader.get_event()
            kind = type(event)
            if kind in _NODE_EVENTS:
                builder.node(event, kind)
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                builder.stack.pop()
            elif kind is yaml.AliasEvent:
                raise YamlProblem(
                    _mark(event),
                    "aliases (*name) are not allowed in saga files; write the value out",
                )
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise YamlProblem(
                        _mark(event), "a saga file holds one YAML document; found a second `---`"
                    )
            elif kind is yaml.StreamEndEvent:
                return builder.doc
    finally:
        loader.dispose()


class _Builder:
    """The document under construction and its open collections, one frame each:
    [path, container, pending key of a mapping]."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.stack: list[list[Any]] = []

    def node(self, event: Any, kind: type) -> None:
        """A scalar, or the start of a mapping or list: a key, or a value placed."""
        _refuse_anchor_and_tag(event)
        mark = event.start_mark
        at = Position(mark.line + 1, mark.column + 1)
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame[2] is None and type(frame[1]) is dict:
            self._key(frame, event, kind, at)
            return
        if kind is yaml.ScalarEvent:
            style = event.style or None
            value: Any = event.value
            if style is None and event.tag != "tag:yaml.org,2002:str":
                value = _resolve_plain(event.value)
        else:
            value = {} if kind is yaml.MappingStartEvent else []
        path = self._place(frame, value, at)
        if kind is yaml.ScalarEvent:
            if type(value) is str:
                self.doc.scalars[path] = (mark.index, event.end_mark.index, style)
        elif len(self.stack) >= MAX_DEPTH:
            raise YamlProblem(at, f"nesting is deeper than {MAX_DEPTH} levels")
        else:
            self.stack.append([path, value, None])

    def _key(self, frame: list[Any], event: Any, kind: type, at: Position) -> None:
        if kind is not yaml.ScalarEvent:
            raise YamlProblem(at, "mapping keys must be plain names, not mappings or lists")
        key = event.value
        path = (*frame[0], key)
        if key in frame[1]:
            first = self.doc.keys[path]
            raise YamlProblem(
                at,
                f"duplicate key {key!r} (first defined at line {first.line}, "
                f"column {first.col})",
            )
        self.doc.keys[path] = at
        frame[2] = key

    def _place(self, frame: list[Any] | None, value: Any, at: Position) -> tuple[Any, ...]:
        """Puts `value` in the open collection (or as the document) and returns its path."""
        path: tuple[Any, ...]
        if frame is None:
            self.doc.data = value
            path = ()
        elif frame[2] is not None:
            frame[1][frame[2]] = value
            path = (*frame[0], frame[2])
            frame[2] = None
        else:
            path = (*frame[0], len(frame[1]))
            frame[1].append(value)
        values = self.doc.values
        values[path] = at
        if len(values) > MAX_VALUES:
            raise YamlProblem(at, f"more than {MAX_VALUES:,} values in one file; split the saga")
        return path


def _refuse_anchor_and_tag(event: Any) -> None:
    if event.anchor is not None:
        raise YamlProblem(
            _mark(event),
            f"anchors (&{event.anchor}) are not allowed in saga files; write the value out",
        )
    tag = event.tag
    if tag is not None and tag != "!" and tag not in _PLAIN_TAGS:
        shown = tag.replace("tag:yaml.org,2002:", "!!")
        raise YamlProblem(
            _mark(event), f"YAML tag {shown!r} is not allowed; saga files hold plain data only"
        )


def _too_large(size: int, report: Report) -> bool:
    if size <= MAX_SOURCE_BYTES:
        return False
    report.error(
        START,
        f"file is {size:,} bytes; a saga file may be at most {MAX_SOURCE_BYTES:,} bytes "
        "(split it into several sagas)",
    )
    return True


def _resolve_plain(value: str) -> Any:
    if value and value[0] in _ALWAYS_TEXT:
        return value
    if _NULL.match(value):
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.match(value):
        return int(value)
    if _INT_OCT.match(value):
        return int(value[2:], 8)
    if _INT_HEX.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return float("-inf") if value.startswith("-") else float("inf")
    if _NAN.match(value):
        return float("nan")
    return value


_UNQUOTED_EXPRESSION = re.compile(r"\$\{")


def _explain_syntax_error(text: str, exc: yaml.MarkedYAMLError) -> tuple[Position, str]:
    mark = exc.problem_mark or exc.context_mark
    at = Position(mark.line + 1, mark.column + 1) if mark is not None else START
    problem = exc.problem or "syntax error"
    message = f"YAML syntax: {problem}"
    if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
        begun = exc.context_mark
        message += f" ({exc.context} at line {begun.line + 1}, column {begun.column + 1})"
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        return at, "YAML syntax: a tab character here; indent with spaces, YAML does not allow tabs"
    flow_start = exc.context_mark if exc.context and "flow" in exc.context else None
    if flow_start is not None and mark is not None:
        found = _UNQUOTED_EXPRESSION.search(text, flow_start.index, mark.index + 1)
        if found is not None:
            return (
                _position_of(text, found.start()),
                "YAML syntax: an unquoted ${ ... } inside a {...} or [...] flow collection; "
                'quote the expression, e.g. {id: "${ saga.id }"}',
            )
    return at, message


def _mark(event: yaml.Event) -> Position:
    mark = event.start_mark
    return Position(mark.line + 1, mark.column + 1) if mark is not None else START


def _position_of(text: str, index: int) -> Position:
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return Position(line, col)


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return isinstance(part, str) and part in node
    if isinstance(node, list):
        return isinstance(part, int) and 0 <= part < len(node)
    return False


def _get(data: Any, path: Loc) -> Any:
    for part in path:
        data = data[part]
    return data
