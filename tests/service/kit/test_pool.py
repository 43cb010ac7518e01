"""Pooled connections: released without a reset round trip, except out of a transaction."""

from __future__ import annotations

import asyncpg


async def test_a_connection_released_inside_a_transaction_is_rolled_back(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS pool_probe (x int)")
    # Every connection of the pool, each left inside an open transaction with a write in it
    # (a request cancelled midway): the next user must find neither.
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        for conn in held:
            await conn.execute("BEGIN")
            await conn.execute("INSERT INTO pool_probe VALUES (1)")
    finally:
        for conn in held:
            await pool.release(conn)
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT count(*) FROM pool_probe") == 0
        await conn.execute("DROP TABLE pool_probe")


async def test_released_connections_keep_the_search_settings(pool: asyncpg.Pool) -> None:
    # No RESET ALL on release: what each connection starts with must be what it keeps.
    for _ in range(3):
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW hnsw.iterative_scan") == "relaxed_order"
            assert await conn.fetchval("SHOW hnsw.max_scan_tuples") == "5000"
