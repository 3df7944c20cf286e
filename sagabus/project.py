"""The user's project as a command sees it: its configuration loaded, its directory on
`sys.path`, its store looked up without creating one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bus.errors import ConfigurationError
from bus.store.namespaces import namespace_url
from bus.store.sqlite import URL_PREFIX, database_path
from sagabus.config import LoadedConfig, load_config
from sagabus.syspath import put_on_path

MEMORY = ":memory:"


def open_project(**flags: Any) -> LoadedConfig:
    """`load_config(**flags)`, with the working directory and then the project's own
    directory first on `sys.path`, so its modules import as they do in its tests."""
    loaded = load_config(**flags)
    put_on_path(*([loaded.root] if loaded.root is not None else []))
    return loaded


def existing_store(url: str) -> str:
    """`url`, after checking that a SQLite store's file exists: a command that only
    reads must not leave an empty store behind in the wrong directory."""
    if not url.startswith(URL_PREFIX):
        return url
    path = database_path(url)
    if path != MEMORY and not Path(path).is_file():
        raise ConfigurationError(
            f"no store at {path}: nothing has run with this store yet (name one with "
            "--store or SAGABUS_STORE, or run in the project's directory)"
        )
    return url


def project_store(project: LoadedConfig) -> str:
    """The URL of `project`'s store, in its namespace, for a command that reads or
    changes what is there: it must exist (`existing_store`)."""
    config = project.config
    return existing_store(namespace_url(config.store, config.namespace))
