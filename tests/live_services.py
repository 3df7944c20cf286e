"""The real RabbitMQ and PostgreSQL the integration tests talk to, shared by every test
directory: where they are, whether they answer, and a PostgreSQL schema of one's own.

`services_missing()` is the gate tests/conftest.py runs at session start: a run without
its services fails at once with one line saying which is missing and how to start it,
unless the developer asked for skips with `SAGABUS_TEST_ALLOW_SKIP=1`."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote, urlsplit, urlunsplit

import aiormq
import asyncpg

AMQP_URL = os.environ.get("SAGABUS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG_URL = os.environ.get(
    "SAGABUS_TEST_POSTGRES", "postgresql://sagabus:sagabus@127.0.0.1:5432/sagabus"
)
ALLOW_SKIP = "SAGABUS_TEST_ALLOW_SKIP"
HOW_TO_START = (
    "run `bash scripts/services.sh` (or `docker compose up -d rabbitmq postgres`), or point"
    " SAGABUS_TEST_AMQP_URL / SAGABUS_TEST_POSTGRES at working ones;"
    f" {ALLOW_SKIP}=1 skips the tests that need them instead"
)


async def rabbitmq_unreachable() -> str | None:
    """Why RabbitMQ cannot be reached, or None when it answers."""
    try:
        connection = await asyncio.wait_for(aiormq.connect(AMQP_URL), 3)
    except Exception as exc:
        return f"RabbitMQ unreachable at {AMQP_URL}: {exc}"
    await connection.close()
    return None


async def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be reached, or None when it answers."""
    try:
        conn = await asyncpg.connect(PG_URL, timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL unreachable at {PG_URL}: {exc}"
    await conn.close()
    return None


def skips_allowed() -> bool:
    """Whether the developer asked for tests to be skipped when a service is missing."""
    return os.environ.get(ALLOW_SKIP, "") == "1"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


async def services_missing(
    amqp_url: str | None = None, pg_url: str | None = None, within: float = 3.0
) -> str | None:
    """One line saying which service (RabbitMQ server, vhost or credentials; PostgreSQL
    server, role or database) does not answer and how to start it, or None when both do."""
    amqp_url = amqp_url or AMQP_URL
    pg_url = pg_url or PG_URL
    problems: list[str] = []
    try:
        connection = await asyncio.wait_for(aiormq.connect(amqp_url), within)
    except Exception as exc:
        problems.append(f"RabbitMQ at {_redacted(amqp_url)} ({_amqp_problem(exc, amqp_url)})")
    else:
        await connection.close()
    try:
        conn = await asyncpg.connect(pg_url, timeout=within)
    except Exception as exc:
        problems.append(f"PostgreSQL at {_redacted(pg_url)} ({_one_line(exc)})")
    else:
        await conn.close()
    if not problems:
        return None
    return f"test services missing: {'; '.join(problems)}: {HOW_TO_START}"


def _amqp_problem(exc: BaseException, url: str) -> str:
    """What went wrong connecting to RabbitMQ; a refused vhost says so (aiormq reports it
    as an unexpected Connection.Close)."""
    if "Connection.OpenOk" in str(exc) and "Connection.Close" in str(exc):
        vhost = unquote(urlsplit(url).path[1:]) or "/"
        return f"vhost {vhost!r} refused: it does not exist or the user may not use it"
    return _one_line(exc)


def _redacted(url: str) -> str:
    """`url` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@asynccontextmanager
async def postgres_schema(prefix: str) -> AsyncIterator[str]:
    """A store URL on a schema of its own, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}schema={schema}"
    finally:
        conn = await asyncpg.connect(PG_URL)
        try:
            # and the schemas of the bus namespaces opened on it (`{schema}_{namespace}`)
            names = await conn.fetch(
                "SELECT nspname FROM pg_namespace "
                "WHERE nspname = $1 OR starts_with(nspname, $1 || '_')",
                schema,
            )
            for (name,) in names:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()
