"""The alembic migrations go up to head and back down to base on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from service.db import migrate


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


def test_upgrade_head_then_downgrade_base(fresh_database: Callable[[str], str]) -> None:
    url = fresh_database("migration_check")
    migrate.upgrade(url)
    tables = asyncio.run(_tables(url))
    assert {
        "agency",
        "api_key",
        "seeker",
        "seeker_protected",
        "posting",
        "seeker_embedding",
        "posting_embedding",
        "match_list",
        "match_item",
    } <= tables
    migrate.downgrade(url, "base")
    assert asyncio.run(_tables(url)) <= {"alembic_version"}
    migrate.upgrade(url)  # and up again: downgrade left nothing behind that blocks it
    assert "match_item" in asyncio.run(_tables(url))
