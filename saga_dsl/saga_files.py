"""From a saga file to a checked definition: read, parse, validate, build, check.

Nothing here raises for bad input: every problem becomes a `Diagnostic`, and the
definition is only given when there is no error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bus.wire.contracts import Registry
from saga_dsl import checks, schema
from saga_dsl import positioned_yaml as loader
from saga_dsl.diagnostics import START, Diagnostic, Loaded, Report
from saga_dsl.saga_definition import SagaDefinition, build

SAGA_SUFFIXES = (".yaml", ".yml")


class LoadResult(Loaded[SagaDefinition]):
    """A saga file's checked definition (None when there is an error) and its diagnostics.

    When `ok`, `saga_dsl.compile(result.definition)` gives the saga's state machine.
    """

    @property
    def definition(self) -> SagaDefinition | None:
        return self.value


@dataclass(frozen=True)
class DirectoryLoad:
    """The sagas of a directory: definitions of the good files, diagnostics of all."""

    definitions: list[SagaDefinition] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def load(
    source: str | Path, *, registry: Registry | None = None, name: str | None = None
) -> LoadResult:
    """Loads one saga.

    `source` is a `Path`, or a `str` that is either a file name ending in `.yaml`/`.yml`
    (no newline) or the YAML text itself. `name` is the file name diagnostics show
    (default: the path, or `<string>`). With a `registry`, message types and fields are
    checked against its contracts.
    """
    if isinstance(source, Path) or _looks_like_path(source):
        path = Path(source)
        report = Report(name or str(path))
        text = loader.read_file(path, report)
        if text is None:
            return LoadResult(None, report.sorted())
        return load_text(text, report, registry)
    return load_text(source, Report(name or "<string>"), registry)


def load_text(text: str, report: Report, registry: Registry | None = None) -> LoadResult:
    """Loads saga text, reporting into `report`."""
    doc = loader.parse(text, report)
    if doc is None:
        return LoadResult(None, report.sorted())
    if doc.data is None:
        report.error(
            START, "the file is empty: a saga needs saga:, version:, start:, initial:, states:"
        )
        return LoadResult(None, report.sorted())
    model = schema.validate(doc, report)
    if model is None:
        return LoadResult(None, report.sorted())
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    definition = build(model, doc, report, digest=digest)
    if not report.has_errors:
        checks.run(definition, report, registry)
    return LoadResult(None if report.has_errors else definition, report.sorted())


def load_directory(directory: str | Path, *, registry: Registry | None = None) -> DirectoryLoad:
    """Loads every `*.yaml`/`*.yml` file of `directory` (not recursive), in name order.

    Two files defining the same version of a saga are an error.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return DirectoryLoad(
            diagnostics=[Diagnostic("error", str(folder), 1, 1, "not a directory")]
        )
    files = sorted(p for p in folder.iterdir() if p.suffix in SAGA_SUFFIXES and p.is_file())
    return load_files(files, registry=registry)


def load_files(paths: Iterable[str | Path], *, registry: Registry | None = None) -> DirectoryLoad:
    """Loads several saga files; one version of a saga defined twice is an error
    (several versions of one saga side by side are not: `order.yaml` holding version 2
    beside `order@1.yaml` holding version 1 serves both)."""
    definitions: list[SagaDefinition] = []
    diagnostics: list[Diagnostic] = []
    seen: dict[tuple[str, int], str] = {}
    for path in paths:
        result = load(Path(path), registry=registry)
        diagnostics.extend(result.diagnostics)
        definition = result.definition
        if definition is None:
            continue
        key = (definition.name, definition.version)
        if key in seen:
            diagnostics.append(
                Diagnostic(
                    "error",
                    definition.file,
                    1,
                    1,
                    f"saga {definition.name!r} version {definition.version} is defined "
                    f"already in {seen[key]}",
                )
            )
            continue
        seen[key] = definition.file
        definitions.append(definition)
    return DirectoryLoad(definitions, diagnostics)


def _looks_like_path(source: str) -> bool:
    return "\n" not in source and source.rstrip().endswith(SAGA_SUFFIXES)
