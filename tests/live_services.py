"""The real RabbitMQ and PostgreSQL the integration tests talk to, shared by every test
directory: where they are, whether they answer, and a PostgreSQL schema of one's own."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiormq
import asyncpg

AMQP_URL = os.environ.get("SAGABUS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
PG_URL = os.environ.get("SAGABUS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


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


@asynccontextmanager
async def postgres_schema(prefix: str) -> AsyncIterator[str]:
    """A store URL on a schema of its own, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{PG_URL}?schema={schema}"
    finally:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()
