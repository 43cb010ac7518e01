"""A bulk import's vectors join the HNSW index after the import (migration 0020): searches find
them meanwhile, the job worker adds them when it has no job, and the posting vectors' change
feed does not take that for a change."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from service.embeddings.service import index_waiting_vectors
from service.match_lists import candidates_repository as db
from tests.factories import Agency, posting_body, seeker_body


async def _waiting(pool: Any, kind: str, agency: Agency) -> int:
    return int(
        await pool.fetchval(
            f"SELECT count(*) FROM {kind}_embedding WHERE agency_id = $1 AND NOT indexed",
            UUID(agency.id),
        )
    )


async def test_bulk_imported_vectors_join_the_index_after_the_import_unmarked(
    app: Any, agency: Agency, pool: Any
) -> None:
    """Imported vectors are written by the import's transaction outside the index and added by
    a later one (the worker's idle step); a single write indexes its vector at once. Adding
    them leaves `changed_xid` as the import set it, so no process reads them again."""
    c, h = agency.client, agency.auth("portal")
    bodies = [posting_body(f"IX-{i}", title=f"Warehouse operative {i}") for i in range(6)]
    r = await c.post("/v1/postings:bulk", json=bodies, headers=h)
    assert r.status_code == 200 and r.json()["created"] == 6, r.text
    r = await c.post("/v1/postings", json=posting_body("IX-single"), headers=h)
    assert r.status_code == 201, r.text
    for _ in range(600):  # the session app's worker polls every 0.1 s
        if await _waiting(pool, "posting", agency) == 0:
            break
        await asyncio.sleep(0.05)
    assert await _waiting(pool, "posting", agency) == 0
    rows = await pool.fetch(
        "SELECT r.external_id, e.xmin = r.xmin AS same_transaction, "
        "xid(e.changed_xid) = r.xmin AS change_as_written "
        "FROM posting r JOIN posting_embedding e ON e.agency_id = r.agency_id "
        "AND e.posting_id = r.id WHERE r.agency_id = $1",
        UUID(agency.id),
    )
    by_id = {r["external_id"]: r for r in rows}
    assert len(by_id) == 7
    for i in range(6):
        row = by_id[f"IX-{i}"]
        assert not row["same_transaction"] and row["change_as_written"], dict(row)
    assert by_id["IX-single"]["same_transaction"] and by_id["IX-single"]["change_as_written"]
    # Nothing left: the idle step says so, and a real change of a vector is still marked.
    assert await index_waiting_vectors(app.state.jobmatch) is False
    async with pool.acquire() as conn:
        change = conn.transaction()
        await change.start()
        try:
            await conn.execute(
                "UPDATE posting_embedding SET embedding = embedding, indexed = false "
                "WHERE agency_id = $1",
                UUID(agency.id),
            )
            marked = await conn.fetchval(
                "SELECT bool_and(changed_xid = pg_current_xact_id()) FROM posting_embedding "
                "WHERE agency_id = $1",
                UUID(agency.id),
            )
        finally:
            await change.rollback()
    assert marked


async def test_searches_find_vectors_still_waiting_for_the_index(
    app: Any, agency: Agency, pool: Any
) -> None:
    """Both vector searches give the same candidates, nearest first, whether the vectors are in
    the HNSW index or wait for it (set so in a transaction the worker cannot see)."""
    c, h = agency.client, agency.auth("portal")
    titles = ["Forklift driver", "Bakery assistant", "Nurse", "Warehouse picker", "Chef"]
    for i, title in enumerate(titles):
        body = posting_body(f"W-{i}", title=title, description=f"{title} wanted.")
        assert (await c.post("/v1/postings", json=body, headers=h)).status_code == 201
        seeker = seeker_body(f"WS-{i}", headline=title, protected=None)
        assert (await c.post("/v1/seekers", json=seeker, headers=h)).status_code == 201
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT e.embedding, e.model FROM seeker_embedding e WHERE e.agency_id = $1 LIMIT 1",
            UUID(agency.id),
        )
        where = {"agency_id": UUID(agency.id), "model": row["model"], "lat": None, "lon": None}
        query = row["embedding"].to_numpy()

        async def searches() -> tuple[list[UUID], list[UUID]]:
            postings = await db.posting_candidates(
                conn, query=query, radius_km=None, limit=3, **where
            )
            seekers = await db.seeker_candidates(
                conn, query=query, remote=True, default_radius_km=30.0, limit=3, **where
            )
            return [p.id for p in postings], [s.candidate.id for s in seekers]

        indexed = await searches()
        assert len(indexed[0]) == 3 and len(indexed[1]) == 3
        waiting = conn.transaction()  # rolled back: the worker never sees these rows wait
        await waiting.start()
        try:
            for kind in ("posting", "seeker"):
                # Half of them wait: the nearest come from both halves, merged.
                await conn.execute(
                    f"UPDATE {kind}_embedding SET indexed = false WHERE agency_id = $1 "
                    f"AND {kind}_id IN (SELECT {kind}_id FROM {kind}_embedding "
                    f"WHERE agency_id = $1 ORDER BY {kind}_id LIMIT 3)",
                    UUID(agency.id),
                )
            assert await searches() == indexed
            await conn.execute(
                "UPDATE posting_embedding SET indexed = false WHERE agency_id = $1",
                UUID(agency.id),
            )
            assert (await searches())[0] == indexed[0]
        finally:
            await waiting.rollback()


async def test_one_worker_at_a_time_adds_vectors_to_the_index(
    app: Any, agency: Agency, pool: Any
) -> None:
    """While another transaction has the indexing turn, imported vectors wait (and are found);
    once it ends, the session app's worker adds them."""
    c, h = agency.client, agency.auth("portal")
    async with pool.acquire() as holder:
        turn = holder.transaction()
        await turn.start()
        try:
            # Waits while a worker has the turn (each holds it for one short transaction).
            await holder.execute("SELECT pg_advisory_xact_lock(hashtext('jobmatch.index_vectors'))")
            bodies = [posting_body(f"TURN-{i}") for i in range(3)]
            r = await c.post("/v1/postings:bulk", json=bodies, headers=h)
            assert r.status_code == 200 and r.json()["created"] == 3, r.text
            await asyncio.sleep(0.5)  # the worker polls every 0.1 s: it tried, and gave way
            assert await _waiting(pool, "posting", agency) == 3
            assert await index_waiting_vectors(app.state.jobmatch) is False
        finally:
            await turn.rollback()
    for _ in range(600):
        if await _waiting(pool, "posting", agency) == 0:
            break
        await asyncio.sleep(0.05)
    assert await _waiting(pool, "posting", agency) == 0
