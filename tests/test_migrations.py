"""The alembic migrations go up to head and back down to base on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import asyncpg
import pytest

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


def _citus_ready_parent() -> str:
    """The revision 0017_citus_ready builds on (read from the file: merges re-chain it)."""
    text = (migrate.MIGRATIONS_DIR / "versions" / "0017_citus_ready.py").read_text()
    found = re.search(r'^down_revision = "([^"]+)"', text, re.M)
    assert found
    return found.group(1)


_TENANT_ROWS = """
INSERT INTO agency (id, name) VALUES
    ($1, 'Agency A ' || $1::uuid::text), ($2, 'Agency B ' || $2::uuid::text);
INSERT INTO seeker (id, agency_id, external_id, profile) VALUES
    ('00000000-0000-0000-0000-0000000000a1', $1, 'S-1', '{}');
INSERT INTO posting (id, agency_id, external_id, profile) VALUES
    ('00000000-0000-0000-0000-0000000000b1', $1, 'P-1', '{}'),
    ('00000000-0000-0000-0000-0000000000b2', $1, 'P-2', '{}');
INSERT INTO seeker_embedding (seeker_id, agency_id, model, embedding) VALUES
    ('00000000-0000-0000-0000-0000000000a1', $1, 'm', array_fill(0.1::real, ARRAY[384])::vector);
INSERT INTO posting_embedding (posting_id, agency_id, model, embedding)
    SELECT id, $1, 'm', array_fill(0.2::real, ARRAY[384])::vector FROM posting;
INSERT INTO seeker_protected (seeker_id, agency_id, consent, gender) VALUES
    ('00000000-0000-0000-0000-0000000000a1', $1, true, 'female');
INSERT INTO match_list (id, agency_id, kind, seeker_id, model_version, embedding_model,
        candidates_considered, input_hash) VALUES
    ('00000000-0000-0000-0000-0000000000c1', $1, 'postings_for_seeker',
     '00000000-0000-0000-0000-0000000000a1', 'v', 'm', 2, 'h');
INSERT INTO match_item (match_list_id, rank, seeker_id, posting_id, score, factors, features,
        explanation)
    SELECT '00000000-0000-0000-0000-0000000000c1', row_number() OVER (ORDER BY id),
        '00000000-0000-0000-0000-0000000000a1', id, 0.5, '{}', '{}', '{}' FROM posting;
INSERT INTO decision (id, agency_id, match_list_id, rank, seeker_id, posting_id, action,
        created_by) VALUES
    (gen_random_uuid(), $1, '00000000-0000-0000-0000-0000000000c1', 1,
     '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b1',
     'shortlist', gen_random_uuid());
INSERT INTO outcome (id, agency_id, seeker_id, posting_id, outcome, created_by) VALUES
    (gen_random_uuid(), $1, '00000000-0000-0000-0000-0000000000a1',
     '00000000-0000-0000-0000-0000000000b1', 'hired', gen_random_uuid());
INSERT INTO scoring_model (id, agency_id, version, kind, artifact, report) VALUES
    ('00000000-0000-0000-0000-0000000000d1', $1, '1', 'linear', '{}', '{}');
INSERT INTO model_activation (agency_id, model_id) VALUES
    ($1, '00000000-0000-0000-0000-0000000000d1');
INSERT INTO job (id, agency_id, kind) VALUES (gen_random_uuid(), $2, 'import');
INSERT INTO ranking_stop (agency_id, posting_id) VALUES
    ($1, NULL), ($1, '00000000-0000-0000-0000-0000000000b1');
DELETE FROM posting_embedding WHERE posting_id = '00000000-0000-0000-0000-0000000000b2';
"""
_COUNTED = (
    "seeker",
    "posting",
    "seeker_embedding",
    "posting_embedding",
    "seeker_protected",
    "match_list",
    "match_item",
    "decision",
    "outcome",
    "scoring_model",
    "model_activation",
    "job",
    "ranking_stop",
)


async def _run(url: str, sql: str, *args: object) -> None:
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for statement in filter(str.strip, sql.split(";")):
                # each statement gets only the parameters it uses, numbered from $1
                used = sorted({int(n) for n in re.findall(r"\$(\d+)", statement)})
                renumbered = statement
                for position, number in enumerate(used, start=1):
                    renumbered = re.sub(rf"\${number}\b", f"${position}", renumbered)
                await conn.execute(renumbered, *[args[n - 1] for n in used])
    finally:
        await conn.close()


async def _counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in _COUNTED}
    finally:
        await conn.close()


def test_citus_keys_upgrade_a_database_with_data_and_back(
    fresh_database: Callable[[str], str],
) -> None:
    """0017_citus_ready on a database holding one of everything: rows kept, list items take
    their list's agency, keys lead with agency_id, a row pointing into another agency is
    refused; and the downgrade keeps the rows too."""
    from uuid import uuid4

    url = fresh_database("migration_citus")
    parent = _citus_ready_parent()
    migrate.upgrade(url, parent)
    agency_a, agency_b = uuid4(), uuid4()
    asyncio.run(_run(url, _TENANT_ROWS, agency_a, agency_b))
    before = asyncio.run(_counts(url))
    assert before["match_item"] == 2 and before["posting_embedding"] == 1

    migrate.upgrade(url, "0017_citus_ready")
    assert asyncio.run(_counts(url)) == before

    async def after_upgrade() -> None:
        conn = await asyncpg.connect(url)
        try:
            owners = await conn.fetch("SELECT DISTINCT agency_id FROM match_item")
            assert [r["agency_id"] for r in owners] == [agency_a]
            assert (
                await conn.fetchval(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conname = 'seeker_pkey'"
                )
                == "PRIMARY KEY (agency_id, id)"
            )
            # the deletion log started empty; a new deletion is logged with its agency
            assert await conn.fetchval("SELECT count(*) FROM posting_vector_deleted") == 0
            await conn.execute("DELETE FROM posting_embedding")
            assert await conn.fetchval("SELECT agency_id FROM posting_vector_deleted") == agency_a
            # agency B's item cannot point at agency A's list
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await conn.execute(
                    "INSERT INTO match_item (agency_id, match_list_id, rank, seeker_id, "
                    "posting_id, score, factors, features, explanation) VALUES ($1, "
                    "'00000000-0000-0000-0000-0000000000c1', 9, "
                    "'00000000-0000-0000-0000-0000000000a1', "
                    "'00000000-0000-0000-0000-0000000000b1', 0.1, '{}', '{}', '{}')",
                    agency_b,
                )
        finally:
            await conn.close()

    asyncio.run(after_upgrade())

    migrate.downgrade(url, parent)
    after = asyncio.run(_counts(url))
    assert after == {**before, "posting_embedding": 0}  # the one deleted above

    async def match_item_columns() -> set[str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'match_item'"
            )
        finally:
            await conn.close()
        return {r["column_name"] for r in rows}

    assert "agency_id" not in asyncio.run(match_item_columns())
