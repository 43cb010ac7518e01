"""The asyncpg pool: pgvector and JSON codecs registered on every connection."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from pgvector.asyncpg import register_vector

from service.config import Settings
from service.kit.embedded_db import start_embedded

# What a lost, restarting or unreachable database raises, to the requests (answered 503) and to
# the loops beside them (they wait and try again). A connection that dies mid-statement can
# leave asyncpg's protocol in a state it reports as InternalClientError ("cannot switch to
# state ...") or InterfaceError ("connection is closed"); TimeoutError (connect or acquire)
# is an OSError.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.InterfaceError,
)


async def replace_connections_after(pool: asyncpg.Pool, exc: BaseException) -> None:
    """After a database error, have the pool replace its connections on their next use: it
    may hold more to a server that went away, and the service then recovers by itself when
    the database is back. A timeout or a cancelled statement leaves the connections sound."""
    if not isinstance(exc, asyncpg.QueryCanceledError | TimeoutError):
        await pool.expire_connections()


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started on first use)."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir, shared_buffers_mb=settings.embedded_shared_buffers_mb)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    await register_vector(conn)
    await conn.set_type_codec("jsonb", encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


class Pool(asyncpg.Pool):  # type: ignore[misc]
    """An asyncpg pool whose `acquire()` gives up after `acquire_timeout` seconds by default.

    Without it a request waits forever for a connection when the database is down or every
    connection is stuck; with it the request fails fast with TimeoutError, answered as 503.
    """

    def __init__(self, *args: Any, acquire_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def keep_session(conn: asyncpg.Connection) -> None:
    """Released connections keep their session as it is.

    asyncpg's default reset runs `RESET ALL` (and more) on every release: one more round trip
    per acquire, three or four per match request. The service never changes session state
    outside a transaction (only `SET LOCAL`), and asyncpg rolls back a transaction left open
    (a request cancelled midway) before it calls this, with or without a custom reset
    (tests/service/kit/test_pool.py checks both).
    """
    del conn


async def create_pool(url: str, settings: Settings, *, replica: bool = False) -> asyncpg.Pool:
    """The primary's pool, or (`replica`) a read replica's: that one opens no connection
    before its first use, so a replica that is down at start-up does not stop the service."""
    pool = Pool(
        url,
        acquire_timeout=settings.db_acquire_timeout_s,
        min_size=0 if replica else settings.pool_min_size,
        max_size=settings.pool_max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        init=init_connection,
        reset=keep_session,
        timeout=settings.db_connect_timeout_s,  # connecting (each new connection)
        command_timeout=settings.statement_timeout_ms / 1000 + 5,
        server_settings={
            "statement_timeout": str(settings.statement_timeout_ms),
            "application_name": "jobmatch-read" if replica else "jobmatch",
            "hnsw.iterative_scan": "relaxed_order",
            "hnsw.ef_search": "100",
            # Bounds the slowest searches: those whose nearest vectors are mostly out of reach
            # (bench/README.md: p99 of retrieval 83-166 ms -> 42 ms at 5,000, recall@100
            # 0.993 -> 0.982).
            "hnsw.max_scan_tuples": str(settings.hnsw_max_scan_tuples),
        },
    )
    await pool
    return pool
