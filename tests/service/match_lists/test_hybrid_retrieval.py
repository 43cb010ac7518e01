"""Hybrid retrieval: full-text search adds postings the vector search missed, same filters."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.match_lists import candidates_repository as db
from tests.factories import Agency, posting_body, seeker_body


async def _post(agency: Agency, body: dict[str, Any]) -> str:
    r = await agency.client.post("/v1/postings", json=body, headers=agency.auth("portal"))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _plain(external_id: str, title: str, description: str, **over: Any) -> dict[str, Any]:
    """A posting as employers write it: a title and a description, nothing coded."""
    body = posting_body(external_id, title=title, description=description, **over)
    for field in ("occupation", "skills_required", "skills_preferred"):
        body.pop(field, None)
    return body


async def test_full_text_search_finds_postings_by_the_seekers_words_within_the_filters(
    agency: Agency, pool: Any, embedder: Any
) -> None:
    here = {"lat": 52.37, "lon": 4.89, "city": "Amsterdam"}
    far = {"lat": 48.85, "lon": 2.35, "city": "Paris"}
    text = "We need someone for TIG welding of stainless steel pipes in our workshop."
    near = await _post(agency, _plain("L-near", "Metal worker", text, job_location=here))
    await _post(agency, _plain("L-far", "Metal worker", text, job_location=far))
    await _post(
        agency,
        _plain(
            "L-old", "Metal worker", text, job_location=here, valid_through="2020-01-01T00:00:00Z"
        ),
    )
    other = await _post(
        agency, _plain("L-other", "Cook", "Prepare meals in a busy kitchen.", job_location=here)
    )
    query = embedder.encode(["welder"])[0]
    async with pool.acquire() as conn:
        found, relevance = await db.lexical_posting_candidates(
            conn,
            agency_id=UUID(agency.id),
            model=embedder.name,
            query=query,
            text="Experienced welder: TIG welding, stainless steel",
            lat=here["lat"],
            lon=here["lon"],
            radius_km=50,
            limit=10,
            common=[],
        )
        ranked = await db.lexical_relevance(
            conn,
            agency_id=UUID(agency.id),
            text="Experienced welder: TIG welding, stainless steel",
            common=[],
            ids=[UUID(near), UUID(other)],
        )
        nothing, _ = await db.lexical_posting_candidates(
            conn,
            agency_id=UUID(agency.id),
            model=embedder.name,
            query=query,
            text="the and of",  # only stop words: no query, no rows
            lat=None,
            lon=None,
            radius_km=None,
            limit=10,
            common=[],
        )
    assert [str(c.id) for c in found] == [near]  # not the far, expired or unrelated ones
    assert other not in {str(c.id) for c in found}
    assert -1.0 <= found[0].cosine <= 1.0 and found[0].version == 1
    assert nothing == []
    # lexical relevance in 0-1: the welding posting names the seeker's words, the cook none
    assert 0.3 < relevance[UUID(near)] < 1.0 and ranked[UUID(other)] == 0.0
    # the vector candidates' relevance is read as the found postings' is
    assert ranked[UUID(near)] == pytest.approx(relevance[UUID(near)])


async def test_a_posting_the_vector_search_missed_is_rescued_into_the_list(
    agency: Agency, settings: Any, embedder: Any
) -> None:
    """With a vector pool of one, only full-text search can bring the second posting in (and
    not the unrelated third). Each of the two shares a rare word with the seeker, so whichever
    one the model puts nearest, the other is found by its words."""
    from service.app import create_app

    h = agency.auth("portal")
    here = {"lat": 52.37, "lon": 4.89}
    ids = [
        await _post(
            agency,
            _plain(
                f"R-{i}",
                title,
                description,
                job_location=here,
            ),
        )
        for i, (title, description) in enumerate(
            [
                ("Forklift driver", "Drive counterbalance forklifts, load and unload trucks."),
                ("Logistics staff", "Operate a reach truck; pallet handling; inventory counts."),
                ("Cook", "Prepare meals in a busy kitchen."),
            ]
        )
    ]
    seeker = seeker_body("R-S", location=here, max_distance_km=20)
    seeker.update(
        headline="reach truck operator",
        skills=[{"name": "pallet handling"}, {"name": "counterbalance forklift"}],
        summary=None,
        desired_occupations=[],
    )
    r = await agency.client.post("/v1/seekers", json=seeker, headers=h)
    sid = r.json()["id"]

    async def listed(**update: Any) -> tuple[int, str]:
        application = create_app(
            settings.model_copy(
                update={"run_worker": False, "posting_vectors_in_memory": 0, **update}
            ),
            embedder=embedder,
        )
        async with LifespanManager(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                r = await c.get(f"/v1/seekers/{sid}/matches?limit=1", headers=h)
        assert r.status_code == 200, r.text
        [item] = r.json()["items"]
        return r.json()["candidates_considered"], item["posting_id"]

    considered, first = await listed(match_candidate_pool=1, lexical_candidate_pool=0)
    assert considered == 1 and first in ids[:2]
    considered, best = await listed(match_candidate_pool=1, lexical_candidate_pool=10)
    # both postings that name the seeker's words were scored; the cook was not
    assert considered == 2 and best in ids[:2]


async def test_postings_are_found_by_the_rarest_words_and_a_common_one_still_ranks(
    agency: Agency, pool: Any, embedder: Any
) -> None:
    """A word most postings share ("warehouse") finds nothing once statistics show it common;
    the rare words find their posting; the common word still counts in the relevance."""
    here = {"lat": 52.37, "lon": 4.89}
    common_ids = [
        await _post(
            agency,
            _plain(
                f"C-{i}",
                "Warehouse staff",
                f"General warehouse duties, aisle {i}.",
                job_location=here,
            ),
        )
        for i in range(30)
    ]
    rare = await _post(
        agency,
        _plain(
            "C-rare",
            "Crane operator",
            "Rigging and slinging for a tower crane: banksman signals, luffing jib, hoist checks.",
            job_location=here,
        ),
    )
    # nine lexemes: the eight rare ones of the crane trade find postings, not "warehouse"
    text = "warehouse crane rigging slinging tower banksman luffing jib hoist"
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE posting")
        common = await db.common_lexemes(conn)
        # The statistics are of every agency's postings (other tests' too): the search reads
        # "warehouse" as the commonest of the nine (listed after every one of the others that
        # is listed at all).
        assert "warehous" in common
        assert all(
            common.index(w) < common.index("warehous")
            for w in ("crane", "rig", "sling", "tower", "banksman", "luf", "jib", "hoist")
            if w in common
        )
        found, _ = await db.lexical_posting_candidates(
            conn,
            agency_id=UUID(agency.id),
            model=embedder.name,
            query=embedder.encode(["crane operator"])[0],
            text=text,
            lat=None,
            lon=None,
            radius_km=None,
            limit=50,
            common=common,
        )
        ranked = await db.lexical_relevance(
            conn, agency_id=UUID(agency.id), text=text, common=common, ids=[UUID(common_ids[0])]
        )
    assert db.LEXICAL_FINDING_TERMS == 8 and db.LEXICAL_RANKING_TERMS >= 9
    assert [str(c.id) for c in found] == [rare]
    assert ranked[UUID(common_ids[0])] > 0.0  # "warehouse" still ranks the vector's candidates


async def test_a_failed_request_leaves_no_full_text_query_running(
    agency: Agency, pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full-text queries run as tasks beside the vector search; when the request fails
    midway they are cancelled and their connections go back to the pool."""
    import asyncio

    from service.match_lists import service as match_service

    here = {"lat": 52.37, "lon": 4.89, "city": "Amsterdam"}
    await _post(agency, _plain("F-1", "Welder", "TIG welding of steel pipes.", job_location=here))
    r = await agency.client.post(
        "/v1/seekers",
        json=seeker_body("F-seeker", headline="TIG welder", location=here),
        headers=agency.auth("portal"),
    )
    assert r.status_code == 201, r.text
    seeker = r.json()["id"]
    started = asyncio.Event()

    async def slow_full_text_query(*args: Any, **kwargs: Any) -> Any:
        started.set()
        await asyncio.sleep(60)  # holds its connection until cancelled

    async def failing_vector_search(*args: Any, **kwargs: Any) -> Any:
        await started.wait()  # the full-text query is under way
        raise RuntimeError("vector search failed")

    monkeypatch.setattr(db, "lexical_posting_candidates", slow_full_text_query)
    monkeypatch.setattr(match_service, "retrieve_postings", failing_vector_search)
    r = await agency.client.get(f"/v1/seekers/{seeker}/matches", headers=agency.auth("portal"))
    assert r.status_code == 500 and started.is_set()  # the failure is the service's, answered
    lexical = [
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__name__", "") in ("lexical_candidates", "lexical_relevance")
    ]
    assert all(t.done() for t in lexical)
    # every connection the request and its tasks took is back
    for _ in range(100):
        if pool.get_idle_size() == pool.get_size():
            break
        await asyncio.sleep(0.01)
    assert pool.get_idle_size() == pool.get_size()
