"""Where a bus namespace keeps its data, so that two namespaces share one database
without seeing or colliding with each other.

Every table of a namespace lives apart from every other namespace's, rather than
carrying a namespace column: the keys stay as they are (`UNIQUE (saga, correlation)`
holds per namespace) and no query can forget a filter.

- PostgreSQL: a schema per namespace. The default namespace (`sagabus`) uses the
  schema the URL names with `?schema=`, or the connection's search path when it names
  none (today's layout); namespace N uses the schema `{S}_{N}`, where S is the URL's
  schema, or `sagabus` when the URL names none (`sagabus_shop` for namespace `shop`).
- SQLite: a sibling file per namespace. The default namespace uses the file of the
  URL; namespace N the file beside it with N before the suffix (`./sagabus.db` becomes
  `./sagabus.shop.db`). An in-memory database is private to its store either way.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bus.errors import ConfigurationError

DEFAULT_NAMESPACE = "sagabus"
"""The namespace whose data stays where the store URL points (as `bus.settings`)."""

NAMESPACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
"""What a namespace may be called (the rule of `bus.settings.Settings.namespace`)."""

MAX_SCHEMA_LENGTH = 63
"""PostgreSQL's longest identifier, in bytes."""

SQLITE_MEMORY = ":memory:"
SQLITE_PREFIX = "sqlite:///"


def separate(namespace: str | None) -> str | None:
    """`namespace` when it needs a place of its own; None for the default one."""
    if namespace is None or namespace == DEFAULT_NAMESPACE:
        return None
    if not NAMESPACE.fullmatch(namespace):
        raise ConfigurationError(
            f"bad namespace {namespace!r}: use letters, digits, _, . and -, "
            "not starting with . or -"
        )
    return namespace


def sqlite_path(path: str, namespace: str | None) -> str:
    """The SQLite file of `namespace`, given the file the URL names."""
    own = separate(namespace)
    if own is None or path == SQLITE_MEMORY:
        return path
    file = PurePath(path)
    stem, suffix = (file.stem, file.suffix) if file.suffix else (file.name, "")
    # PurePath would drop a leading "./"; keep the directory part as written
    directory = path[: len(path) - len(file.name)]
    return f"{directory}{stem}.{own}{suffix}"


def postgres_schema(schema: str | None, namespace: str | None) -> str | None:
    """The PostgreSQL schema of `namespace`, given the schema the URL names (None: the
    search path's)."""
    own = separate(namespace)
    if own is None:
        return schema
    name = f"{schema or DEFAULT_NAMESPACE}_{own}"
    if len(name.encode()) > MAX_SCHEMA_LENGTH:
        raise ConfigurationError(
            f"namespace {own!r} makes the schema name {name!r}, longer than PostgreSQL's "
            f"{MAX_SCHEMA_LENGTH} bytes: use a shorter namespace or ?schema="
        )
    return name


def namespace_url(url: str, namespace: str | None) -> str:
    """The store URL of `namespace`, given the configured store URL: the same URL for
    the default namespace, else one naming the namespace's own file or schema. Apply
    it once, to the configured URL (`open_store` does when given a namespace)."""
    if separate(namespace) is None:
        return url
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite" and url.startswith(SQLITE_PREFIX) and len(url) > len(SQLITE_PREFIX):
        return SQLITE_PREFIX + sqlite_path(url[len(SQLITE_PREFIX) :], namespace)
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schema = next((value for name, value in query if name == "schema"), None)
        query = [(name, value) for name, value in query if name != "schema"]
        query.append(("schema", postgres_schema(schema or None, namespace) or ""))
        return urlunsplit(parts._replace(query=urlencode(query)))
    return url  # not a store URL: the backend's own check says what is wrong
