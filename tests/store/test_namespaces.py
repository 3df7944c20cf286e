"""Namespaces in the store (`bus.store.namespaces`) on both backends: the namespace cases
of `bus.store.conformance`, and where each backend puts a namespace."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import pytest

from bus import settings as bus_settings
from bus.errors import ConfigurationError
from bus.settings import Settings
from bus.store import open_store
from bus.store.conformance import NamespaceCases
from bus.store.conformance.support import saga
from bus.store.namespaces import DEFAULT_NAMESPACE, namespace_url
from bus.store.postgres import PostgresStore
from bus.store.sqlite import SQLiteStore


class TestSQLiteNamespaces(NamespaceCases):
    @pytest.fixture
    def store_url(self, sqlite_url: str) -> str:
        return sqlite_url

    async def test_a_namespace_is_a_sibling_file(self, tmp_path: Path, store_url: str) -> None:
        async with open_store(store_url, namespace="shop") as shop:
            assert isinstance(shop, SQLiteStore)
            assert shop.path == str(tmp_path / "sagabus.shop.db")
        assert database_files(tmp_path) == ["sagabus.shop.db"]


def database_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.db"))


@pytest.mark.integration
class TestPostgresNamespaces(NamespaceCases):
    @pytest.fixture
    def store_url(self, schema_url: str) -> str:
        return schema_url

    async def test_a_namespace_is_a_schema_beside_the_urls(
        self, store_url: str, server: asyncpg.Connection
    ) -> None:
        async with (
            open_store(store_url) as default,
            open_store(store_url, namespace="shop") as shop,
        ):
            assert isinstance(default, PostgresStore) and isinstance(shop, PostgresStore)
            assert shop.schema == f"{default.schema}_shop"
            async with shop.transaction() as tx:
                await tx.saga_insert(saga())
        rows = await server.fetch(
            'SELECT count(*) FROM "' + f'{default.schema}_shop".saga_instance'
        )
        assert rows[0][0] == 1


@pytest.mark.parametrize(
    ("url", "namespace", "expected"),
    [
        ("sqlite:///./sagabus.db", "shop", "sqlite:///./sagabus.shop.db"),
        ("sqlite:////var/lib/bus", "a.b-c", "sqlite:////var/lib/bus.a.b-c"),
        ("sqlite:///:memory:", "shop", "sqlite:///:memory:"),
        ("sqlite:///./sagabus.db", DEFAULT_NAMESPACE, "sqlite:///./sagabus.db"),
        ("postgresql://db/app", "shop", "postgresql://db/app?schema=sagabus_shop"),
        (
            "postgresql://u@db/app?schema=tenant&pool_size=3",
            "shop",
            "postgresql://u@db/app?pool_size=3&schema=tenant_shop",
        ),
        ("postgresql://db/app", DEFAULT_NAMESPACE, "postgresql://db/app"),
        ("postgresql://db/app", None, "postgresql://db/app"),
    ],
)
def test_a_namespace_has_a_url_of_its_own(url: str, namespace: str | None, expected: str) -> None:
    assert namespace_url(url, namespace) == expected
    assert open_store(url, namespace=namespace).url == expected


def test_a_namespace_with_dots_and_dashes_is_a_valid_schema() -> None:
    store = open_store("postgresql://db/app", namespace="eu.shop-1")
    assert isinstance(store, PostgresStore) and store.schema == "sagabus_eu.shop-1"


def test_a_namespace_too_long_for_a_schema_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="63"):
        open_store("postgresql://db/app?schema=s", namespace="n" * 70)


def test_open_store_takes_the_namespace_from_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bus.db'}"
    store = open_store(Settings(store=url, namespace="shop"))
    assert isinstance(store, SQLiteStore) and store.path == str(tmp_path / "bus.shop.db")
    default = open_store(Settings(store=url))
    assert isinstance(default, SQLiteStore) and default.path == str(tmp_path / "bus.db")


def test_the_store_and_the_settings_agree_on_the_default_namespace() -> None:
    assert bus_settings.DEFAULT_NAMESPACE == DEFAULT_NAMESPACE


async def test_sagabus_list_shows_the_instances_of_its_own_namespace(tmp_path: Path) -> None:
    url = "sqlite:///./shared.db"
    for namespace in ("blue", "green"):
        async with (
            open_store(f"sqlite:///{tmp_path / 'shared.db'}", namespace=namespace) as store,
            store.transaction() as tx,
        ):
            await tx.saga_insert(saga(id=f"inst-{namespace}"))
    listed = {}
    for namespace in ("blue", "green"):
        done = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sagabus.cli", "list", "--store", url, "--json",
            cwd=tmp_path,
            env={**os.environ, "SAGABUS_NAMESPACE": namespace},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(done.communicate(), 60)
        assert done.returncode == 0, err.decode()
        listed[namespace] = [(r["id"], r["correlation"]) for r in json.loads(out)]
    assert listed == {"blue": [("inst-blue", "order-1")], "green": [("inst-green", "order-1")]}
