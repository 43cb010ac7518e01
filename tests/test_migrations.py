"""The alembic migrations go up to head and back down to base on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from service.kit import migrate


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


def test_migration_files_sort_in_revision_order() -> None:
    """File names start with their revision's number, and each revision builds on the one
    before it in file order, so `ls` reads as the history."""
    import re

    files = sorted((migrate.MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
    previous = None
    for path in files:
        text = path.read_text()
        revision = re.search(r'^revision = "([^"]+)"', text, re.M)
        down = re.search(r"^down_revision = (None|\"([^\"]+)\")", text, re.M)
        assert revision and down, path.name
        assert path.name[:4] == revision.group(1)[:4], path.name
        assert down.group(2) == previous, path.name
        previous = revision.group(1)
    assert len(files) >= 11


def test_a_database_migrated_before_the_files_were_renamed_upgrades(
    fresh_database: Callable[[str], str],
) -> None:
    """Revision ids did not change with the file names: a database at the last revision made
    under the old names is at a known revision and upgrades to head."""
    url = fresh_database("migration_renamed")
    migrate.upgrade(url, "0011_vector_versions")
    migrate.upgrade(url)

    async def version() -> str:
        conn = await asyncpg.connect(url)
        try:
            return str(await conn.fetchval("SELECT version_num FROM alembic_version"))
        finally:
            await conn.close()

    head = sorted((migrate.MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))[-1].name
    assert asyncio.run(version())[:4] == head[:4]
