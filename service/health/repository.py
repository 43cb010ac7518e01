"""The one query of the probes."""

from __future__ import annotations

import asyncpg


async def ping(conn: asyncpg.Connection) -> None:
    await conn.fetchval("SELECT 1")
