"""The project's configuration: one typed model, filled from four layers.

Order, first wins: command-line flags, then the environment (`SAGABUS_*`, the names
`bus.settings` reads: `SAGABUS_AMQP_URL`, `SAGABUS_STORE`, `SAGABUS_NAMESPACE`,
`SAGABUS_PREFETCH`, plus `SAGABUS_SERVICES`, `SAGABUS_SAGAS`, `SAGABUS_METRICS_PORT`,
`SAGABUS_MIDDLEWARE`),
then a `.env` file beside the project's pyproject.toml (or in the working directory),
then the `[tool.sagabus]` table of the project's pyproject.toml, then the defaults:

    [tool.sagabus]
    services = ["shop"]          # modules or packages of services (and their contracts)
    sagas = "sagas"              # directory of saga files, relative to this file
    store = "sqlite:///./shop.db"
    namespace = "shop"
    amqp_url = "amqp://guest:guest@localhost:5672/"
    prefetch = 200
    metrics_port = 9100
    middleware = ["shop.audit:Audit"]   # hooks around every handler (docs/middleware.md)

The project's pyproject.toml is the nearest one, from the working directory upwards,
that has a `[tool.sagabus]` table. `load_config` also says where each value came from,
for `sagabus config`.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bus.errors import ConfigurationError
from bus.observability.redact import redact_url
from bus.settings_names import DEFAULT_AMQP_URL, DEFAULT_NAMESPACE, DEFAULT_STORE_URL, ENV
from sagabus.config_checks import (
    Invalid,
    optional,
    path_or_none,
    text,
    texts,
    whole_within,
)

if TYPE_CHECKING:
    from bus.settings import Settings

TABLE = ("tool", "sagabus")
ENV_PREFIX = "SAGABUS_"
SECRET = frozenset({"amqp_url", "store"})
"""Settings whose values may hold credentials: shown redacted."""

SQLITE = "sqlite:///"

FLAG = "flag"
ENVIRONMENT = "environment"
DOTENV = ".env"
PYPROJECT = "pyproject.toml"
DEFAULT = "default"


@dataclass(frozen=True)
class ProjectConfig:
    """What a sagabus project is made of and where it runs.

    services: modules or packages of services, or `module:attribute` (their import
        registers the message contracts too).
    sagas: directory of saga files, or None for none.
    store, namespace, amqp_url, prefetch: as in `bus.settings.Settings` (a relative
        SQLite path in `[tool.sagabus]` is relative to the pyproject.toml).
    metrics_port: serve /metrics, /healthz and /readyz there, on all addresses (None:
        do not; the console's port, `sagabus run --console-port`, serves them too).
    middleware: `module:name` of middleware around every handler
        (bus/unitofwork/middleware.py).
    """

    services: list[str] = field(default_factory=list)
    sagas: Path | None = None
    store: str = DEFAULT_STORE_URL
    namespace: str = DEFAULT_NAMESPACE
    amqp_url: str = DEFAULT_AMQP_URL
    prefetch: int = 200
    metrics_port: int | None = None
    middleware: list[str] = field(default_factory=list)

    def bus_settings(self, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """The bus's settings: these values and `flags` (None: not given) over the rest
        of `SAGABUS_*` (log level, batch size, TLS files, ...) from `env` (default: the
        process's environment)."""
        from bus.settings import Settings  # pydantic: only for the commands that need it

        return Settings.load(
            env,
            amqp_url=self.amqp_url,
            store=self.store,
            namespace=self.namespace,
            prefetch=self.prefetch,
            **flags,
        )


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ProjectConfig))

CHECKS: dict[str, Callable[[Any], Any]] = {
    "services": texts,
    "sagas": path_or_none,
    "store": text,
    "namespace": text,
    "amqp_url": text,
    "prefetch": whole_within(1, 65535),
    "metrics_port": optional(whole_within(0, 65535)),
    "middleware": texts,
}
"""How each field's value is checked and converted, from any layer."""


@dataclass(frozen=True)
class LoadedConfig:
    """The effective configuration, where each value came from, and the project."""

    config: ProjectConfig
    origins: dict[str, str]
    pyproject: Path | None
    dotenv: dict[str, str]

    @property
    def root(self) -> Path | None:
        """The project's directory (where its pyproject.toml is), if there is one."""
        return None if self.pyproject is None else self.pyproject.parent

    def bus_settings(self, **flags: Any) -> Settings:
        """The bus's settings, the `.env` file's `SAGABUS_*` lines under the process's
        environment; `flags` (None: not given) over both."""
        return self.config.bus_settings({**self.dotenv, **os.environ}, **flags)

    def shown(self) -> list[tuple[str, str, str]]:
        """(setting, value, origin) of every setting, the project's and then the rest of
        the bus's (log level, queue type, ...), credentials redacted."""
        rows = []
        for name in FIELDS:
            origin = self.origins.get(name, DEFAULT)
            if origin in (ENVIRONMENT, DOTENV):
                origin = f"{origin} ({ENV_PREFIX}{name.upper()})"
            rows.append((name, _text(name, getattr(self.config, name)), origin))
        settings = self.bus_settings()
        for name, var in ENV.items():
            if name in FIELDS:
                continue
            if os.environ.get(var):
                origin = f"{ENVIRONMENT} ({var})"
            elif self.dotenv.get(var):
                origin = f"{DOTENV} ({var})"
            else:
                origin = DEFAULT
            rows.append((name, _text(name, getattr(settings, name)), origin))
        return rows


def _text(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name in SECRET:
        return redact_url(str(value))
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "-"
    return str(value)


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml from `start` (default: the working directory) upwards
    that has a `[tool.sagabus]` table."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and _table(candidate) is not None:
            return candidate
    return None


def load_config(*, cwd: Path | None = None, **flags: Any) -> LoadedConfig:
    """The configuration of the project around `cwd`: `flags` (None: not given) over
    the environment over `.env` over `[tool.sagabus]` over the defaults."""
    pyproject = find_pyproject(cwd)
    base = pyproject.parent if pyproject is not None else (cwd or Path.cwd())
    dotenv_file = base / ".env"
    table = _pyproject_values(pyproject) if pyproject is not None else {}
    dotenv_lines = _dotenv(dotenv_file)
    layers: list[tuple[str, dict[str, Any]]] = [
        (FLAG, {k: v for k, v in flags.items() if v is not None and v != []}),
        (ENVIRONMENT, _prefixed(os.environ)),
        (DOTENV, _prefixed(dotenv_lines)),
        (PYPROJECT, table),
    ]
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for origin, values in reversed(layers):
        merged.update(values)
        origins.update(dict.fromkeys(values, origin))
    dotenv = {
        k: v for k, v in dotenv_lines.items() if k.startswith(ENV_PREFIX) and v is not None
    }
    return LoadedConfig(_checked(merged, origins), origins, pyproject, dotenv)


def _pyproject_values(pyproject: Path) -> dict[str, Any]:
    """The `[tool.sagabus]` table, unknown keys refused, `sagas` and a relative SQLite
    `store` made relative to the file's directory (so a command run in a subdirectory
    finds the same ones)."""
    values = dict(_table(pyproject) or {})
    for key in values:
        if key not in FIELDS:
            close = difflib.get_close_matches(key, list(FIELDS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigurationError(f"{pyproject}: unknown key {key!r} in [tool.sagabus]{hint}")
    sagas = values.get("sagas")
    if isinstance(sagas, str) and sagas:
        values["sagas"] = pyproject.parent / sagas
    store = values.get("store")
    if isinstance(store, str) and store.startswith(SQLITE):
        path = store.removeprefix(SQLITE)
        if path and path != ":memory:" and not path.startswith("/"):
            values["store"] = f"{SQLITE}{(pyproject.parent / path).resolve()}"
    return values


def _table(pyproject: Path) -> dict[str, Any] | None:
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read {pyproject}: {exc}") from None
    table: Any = document
    for key in TABLE:
        table = table.get(key) if isinstance(table, dict) else None
    return table if isinstance(table, dict) else None


def _dotenv(path: Path) -> dict[str, str | None]:
    """The lines of a `.env` file (none when there is no file)."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # only when there is a .env

    return dict(dotenv_values(path))


def _prefixed(variables: Mapping[str, str | None]) -> dict[str, str]:
    """The fields that variables `SAGABUS_<FIELD>` name, in any case; an empty one is
    not given."""
    lowered = {name.lower(): value for name, value in variables.items()}
    named = ((field, lowered.get(f"{ENV_PREFIX}{field}".lower())) for field in FIELDS)
    return {field: value for field, value in named if value}


def _checked(merged: Mapping[str, Any], origins: Mapping[str, str]) -> ProjectConfig:
    """The configuration of `merged` values, every wrong one named in one line."""
    values: dict[str, Any] = {}
    problems = []
    for name, check in CHECKS.items():
        if name not in merged:
            continue
        try:
            values[name] = check(merged[name])
        except Invalid as exc:
            problems.append(_problem(name, merged[name], exc, origins.get(name, DEFAULT)))
    if problems:
        raise ConfigurationError("invalid configuration: " + "; ".join(problems))
    return ProjectConfig(**values)


def _problem(name: str, value: Any, exc: Invalid, origin: str) -> str:
    """`prefetch from environment: Input should be ... (got '0')`, a credential not
    shown; `services.1 ...` for the second item of a list."""
    for index in exc.at:
        value = value[index]
    where = ".".join([name, *(str(index) for index in exc.at)])
    shown = "" if name in SECRET else f" (got {value!r})"
    return f"{where} from {origin}: {exc.message}{shown}"
