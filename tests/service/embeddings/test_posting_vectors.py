"""Posting vectors held in memory (service/posting_vectors.py): the same lists as the database
search, and every process sees every write at its next search."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from tests.factories import Agency, posting_body, seeker_body
from tests.service.embeddings.apps import posting_ids, second_process


async def test_lists_from_memory_equal_the_database_search(
    app: Any, agency: Agency, monkeypatch: Any
) -> None:
    state = app.state.jobmatch
    assert state.warming is not None
    await state.warming
    assert state.posting_vectors is not None and state.posting_vectors.ready
    c, h = agency.client, agency.auth("portal")
    sid = (await c.post("/v1/seekers", json=seeker_body(), headers=h)).json()["id"]
    places = [(51.95, 4.45), (51.92, 4.60), (52.37, 4.90), (51.80, 4.30)]  # last two: far
    # Copies of one text tie (the same vector): both searches order them by id.
    for i, (lat, lon) in enumerate(places * 3):
        body = posting_body(f"M-{i}", job_location={"lat": lat, "lon": lon})
        if i % 5 == 0:
            body["remote_allowed"] = True
        if i == 7:
            body["title"] = "Warehouse forklift driver, night shifts"
        r = await c.post("/v1/postings", json=body, headers=h)
        assert r.status_code == 201, r.text
    index = state.posting_vectors.index
    searches: list[int] = []
    search = index.nearest
    monkeypatch.setattr(index, "nearest", lambda *a, **k: searches.append(1) or search(*a, **k))
    r = await c.get(f"/v1/seekers/{sid}/matches?limit=50", headers=h)
    from_memory = r.json()["items"]
    assert searches == [1]
    monkeypatch.setattr(state, "posting_vectors", None)
    r = await c.get(f"/v1/seekers/{sid}/matches?limit=50", headers=h)
    from_database = r.json()["items"]
    assert 0 < len(from_memory) < 12  # some postings are out of reach

    def same(item: dict[str, Any]) -> tuple[Any, ...]:
        return item["posting_id"], item["external_id"], item["explanation"]

    assert [same(i) for i in from_memory] == [same(i) for i in from_database]
    # The cosines are computed in memory, equal to the database's to float precision.
    for m, d in zip(from_memory, from_database, strict=True):
        assert abs(m["score"] - d["score"]) < 1e-6


async def test_a_second_process_sees_writes_made_after_it_loaded(
    app: Any, settings: Any, embedder: Any, agency: Agency, pool: Any
) -> None:
    """Process B loads its vectors, then process A (the session app) adds, moves and deletes
    postings: B's next list reflects each change."""
    c, h = agency.client, agency.auth("portal")
    sid = (await c.post("/v1/seekers", json=seeker_body(), headers=h)).json()["id"]
    first = (await c.post("/v1/postings", json=posting_body("N-1"), headers=h)).json()["id"]
    async with second_process(settings, embedder) as (state, b):
        vectors = state.posting_vectors
        assert vectors is not None and vectors.ready and UUID(first) in vectors.index
        assert await posting_ids(b, sid, h) == [first]
        # A change of the posting alone, by any writer (the API also rewrites the vector),
        # reaches B's memory with its new version.
        await pool.execute(
            "UPDATE posting SET external_id = 'N-1b', version = version + 1 WHERE id = $1",
            UUID(first),
        )
        r = await b.get(f"/v1/seekers/{sid}/matches", headers=h)
        assert [i["external_id"] for i in r.json()["items"]] == ["N-1b"]
        second = (await c.post("/v1/postings", json=posting_body("N-2"), headers=h)).json()
        assert set(await posting_ids(b, sid, h)) == {first, second["id"]}
        assert UUID(second["id"]) in vectors.index  # read as a change, not from the database
        # Moved out of the seeker's 25 km (Rotterdam -> Groningen): gone from B's list.
        moved = posting_body("N-2", job_location={"lat": 53.22, "lon": 6.57})
        r = await c.put(f"/v1/postings/{second['id']}", json=moved, headers=h)
        assert r.status_code == 200, r.text
        assert await posting_ids(b, sid, h) == [first]
        # Deleted: read as a change too.
        assert (await c.delete(f"/v1/postings/{first}", headers=h)).status_code == 204
        async with state.pool.acquire() as conn:
            assert await vectors.sync(conn)
        assert UUID(first) not in vectors.index
        assert await posting_ids(b, sid, h) == []


async def test_more_postings_than_allowed_in_memory_leaves_matching_to_the_database(
    settings: Any, embedder: Any, agency: Agency
) -> None:
    c, h = agency.client, agency.auth("portal")
    sid = (await c.post("/v1/seekers", json=seeker_body(), headers=h)).json()["id"]
    for i in range(2):
        await c.post("/v1/postings", json=posting_body(f"L-{i}"), headers=h)
    async with second_process(settings, embedder, posting_vectors_in_memory=1) as (state, b):
        assert state.posting_vectors is not None and not state.posting_vectors.ready
        assert len(state.posting_vectors.index) == 0  # nothing held
        assert len(await posting_ids(b, sid, h)) == 2


async def test_a_change_committed_after_a_later_one_is_still_read(
    app: Any, agency: Agency, pool: Any
) -> None:
    """Changes are read by transaction id, not by time: a transaction still running when a
    read began (and committing after a younger one was read) is read the next time."""
    state = app.state.jobmatch
    await state.warming
    vectors = state.posting_vectors
    c, h = agency.client, agency.auth("portal")
    pid = UUID((await c.post("/v1/postings", json=posting_body("X-1"), headers=h)).json()["id"])
    async with pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT embedding FROM posting_embedding WHERE posting_id = $1", pid
        )
    query = stored.to_numpy()

    def in_groningen() -> list[Any]:
        found = vectors.index.nearest(
            query, group=UUID(agency.id), lat=53.22, lon=6.57, radius_km=5, now=time.time(), limit=5
        )
        return [key for key, _ in found]

    async with pool.acquire() as writer, pool.acquire() as reader:
        slow = writer.transaction()
        await slow.start()
        await writer.execute("UPDATE posting SET lat = 53.22, lon = 6.57 WHERE id = $1", pid)
        assert await vectors.sync(reader)
        # A younger transaction commits and is read while the older one is still open.
        young = (await c.post("/v1/postings", json=posting_body("X-2"), headers=h)).json()
        assert await vectors.sync(reader)
        assert UUID(young["id"]) in vectors.index and in_groningen() == []
        await slow.commit()
        assert await vectors.sync(reader)
    assert in_groningen() == [pid]


async def test_transaction_ids_going_back_make_the_process_read_everything_again(
    settings: Any, embedder: Any, agency: Agency
) -> None:
    """As after a failover to a replica that lagged: the ids of new changes could be below
    those already read, so reading by id would miss them."""
    from dataclasses import replace

    c, h = agency.client, agency.auth("portal")
    pid = (await c.post("/v1/postings", json=posting_body("R-1"), headers=h)).json()["id"]
    async with second_process(settings, embedder) as (state, _):
        vectors = state.posting_vectors
        assert vectors.ready and UUID(pid) in vectors.index
        seen = vectors._seen
        vectors._seen = replace(seen, next_xid=seen.next_xid + 10**9)  # read "in the future"
        async with state.pool.acquire() as conn:
            assert not await vectors.sync(conn)  # the database serves meanwhile
        assert not vectors.ready and vectors.reloading is not None
        assert await vectors.reloading
        assert vectors.ready and UUID(pid) in vectors.index


async def test_a_deleted_and_a_rewritten_posting_in_one_read(
    app: Any, agency: Agency, pool: Any
) -> None:
    """Deletions are read with the same snapshot rule as writes: a posting deleted (here with
    its agency's other vectors of the model, as after a model switch) is dropped at the next
    read, and a vector written after a deletion in the same read stays."""
    state = app.state.jobmatch
    await state.warming
    vectors = state.posting_vectors
    c, h = agency.client, agency.auth("portal")
    ids = [
        UUID((await c.post("/v1/postings", json=posting_body(f"D-{i}"), headers=h)).json()["id"])
        for i in range(3)
    ]
    async with pool.acquire() as conn:
        assert await vectors.sync(conn)
        assert all(i in vectors.index for i in ids)
        near = dict(group=UUID(agency.id), lat=51.92, lon=4.48, radius_km=25.0, now=time.time())
        before = vectors.index.count_within(**near, at_least=10**6)
        async with conn.transaction():
            kept = await conn.fetchrow(
                "SELECT * FROM posting_embedding WHERE posting_id = $1", ids[0]
            )
            await conn.execute(
                "DELETE FROM posting_embedding WHERE posting_id = ANY($1::uuid[])", ids
            )
            columns = [k for k, _ in kept.items() if k != "changed_xid"]
            await conn.execute(
                f"INSERT INTO posting_embedding ({', '.join(columns)}) "
                f"VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})",
                *(kept[k] for k in columns),
            )
        assert await vectors.sync(conn)
    assert ids[0] in vectors.index
    assert ids[1] not in vectors.index and ids[2] not in vectors.index
    assert vectors.index.count_within(**near, at_least=10**6) == before - 2


async def test_a_process_that_has_not_read_for_long_reads_everything_again(
    settings: Any, embedder: Any, agency: Agency, monkeypatch: Any
) -> None:
    """Deletions are kept for a day: after half of that without a read, a process cannot be
    sure to see every one, so it reloads (the database serves meanwhile)."""
    from service.embeddings import posting_vectors

    c, h = agency.client, agency.auth("portal")
    pid = (await c.post("/v1/postings", json=posting_body("S-1"), headers=h)).json()["id"]
    async with second_process(settings, embedder) as (state, _):
        vectors = state.posting_vectors
        async with state.pool.acquire() as conn:
            assert await vectors.sync(conn)  # read just now: no reload
            assert vectors.reloading is None
            monkeypatch.setattr(posting_vectors, "DELETIONS_KEPT_S", 0.0)
            assert not await vectors.sync(conn)
        assert not vectors.ready and vectors.reloading is not None
        monkeypatch.setattr(posting_vectors, "DELETIONS_KEPT_S", 86_400.0)
        assert await vectors.reloading
        assert vectors.ready and UUID(pid) in vectors.index


async def test_deletions_are_kept_for_a_day(agency: Agency, pool: Any) -> None:
    c, h = agency.client, agency.auth("portal")
    pid = UUID((await c.post("/v1/postings", json=posting_body("K-1"), headers=h)).json()["id"])
    async with pool.acquire() as conn:
        old = await conn.fetchval(
            "INSERT INTO posting_vector_deleted (agency_id, posting_id, model, deleted_at) "
            "VALUES ($1, gen_random_uuid(), 'm', now() - interval '25 hours') RETURNING posting_id",
            UUID(agency.id),
        )
        assert (await c.delete(f"/v1/postings/{pid}", headers=h)).status_code == 204
        kept = {r["posting_id"] for r in await conn.fetch("SELECT * FROM posting_vector_deleted")}
    assert pid in kept and old not in kept
