"""The asyncpg pool: pgvector and JSON codecs registered on every connection."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from pgvector.asyncpg import register_vector

from service.config import Settings
from service.embedded_db import start_embedded


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started on first use)."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    await register_vector(conn)
    await conn.set_type_codec("jsonb", encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def create_pool(url: str, settings: Settings) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        init=init_connection,
        command_timeout=settings.statement_timeout_ms / 1000 + 5,
        server_settings={
            "statement_timeout": str(settings.statement_timeout_ms),
            "application_name": "jobmatch",
            "hnsw.iterative_scan": "relaxed_order",
            "hnsw.ef_search": "100",
        },
    )
    assert pool is not None
    return pool
