"""`JOBMATCH_EMBEDDING_MODEL` picks the embedder; each model keeps its own ESCO label vectors."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch
from uuid import UUID

import httpx
import pytest
from asgi_lifespan import LifespanManager

from matching.normalise import label_cache_path
from matching.taxonomy import Taxonomy
from service.app import create_app, load_embedder
from service.config import Settings
from service.match_lists import candidates_repository as candidates_db
from tests.factories import Agency, posting_body, seeker_body


def test_the_setting_chooses_the_model_and_an_unindexed_width_is_refused() -> None:
    e5 = load_embedder(Settings(embedding_model="e5-small"))
    assert e5.name == "multilingual-e5-small-q4-query" and e5.dimension == 384
    minilm = load_embedder(Settings(embedding_model="minilm"))
    assert minilm.name == "all-MiniLM-L6-v2" and minilm.dimension == 384
    assert load_embedder(Settings()).dimension == 512  # the default: USE multilingual
    # A width the database has no index for: a clear error at start-up, nothing stored.
    with (
        patch("service.app.INDEXED_WIDTHS", (384,)),
        pytest.raises(RuntimeError, match="512-d vectors; the database indexes 384-d"),
    ):
        load_embedder(Settings(embedding_model="use-multilingual"))
    # The label-vector cache file of the text understanding is keyed by the model's name.
    taxonomy = Taxonomy.load()
    assert label_cache_path("c", e5.name, taxonomy) != label_cache_path("c", minilm.name, taxonomy)


def test_an_unknown_model_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="embedding_model"):
        Settings(embedding_model="word2vec")


async def test_a_512_d_model_is_served_and_searched_through_its_own_index(
    agency: Agency, settings: Any, pool: Any
) -> None:
    """Universal Sentence Encoder (512-d) end to end: vectors stored at their width, the
    per-width HNSW index (migration 0019) used, and a French seeker matched to the French ad."""
    use = load_embedder(Settings(embedding_model="use-multilingual"))
    assert use.dimension == 512
    application = create_app(
        settings.model_copy(
            update={"run_worker": False, "posting_vectors_in_memory": 0, "understand_text": False}
        ),
        embedder=use,
    )
    h = agency.auth("portal")
    here = {"lat": 48.85, "lon": 2.35, "city": "Paris"}
    ads = [
        ("U-bake", "Boulanger (H/F)", "Vous préparez le pain et les viennoiseries chaque matin."),
        ("U-drive", "Chauffeur poids lourd", "Vous livrez nos clients en camion dans la région."),
        ("U-code", "Software developer", "Build and test web services in Python."),
    ]
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            ids = {}
            for external_id, title, description in ads:
                body = posting_body(external_id, title=title, description=description)
                body.update(job_location=here)
                for field in ("occupation", "skills_required", "skills_preferred"):
                    body.pop(field, None)
                r = await c.post("/v1/postings", json=body, headers=h)
                assert r.status_code == 201, r.text
                ids[r.json()["id"]] = external_id
            seeker = seeker_body("U-S", location=here, max_distance_km=30)
            seeker.update(
                headline="Boulangère",
                summary="Je fais du pain, des croissants et des baguettes depuis dix ans.",
                skills=[],
            )
            seeker.pop("desired_occupations", None)
            r = await c.post("/v1/seekers", json=seeker, headers=h)
            assert r.status_code == 201, r.text
            r = await c.get(f"/v1/seekers/{r.json()['id']}/matches", headers=h)
            assert r.status_code == 200, r.text
    assert ids[r.json()["items"][0]["posting_id"]] == "U-bake"
    async with pool.acquire() as conn:
        widths = await conn.fetch(
            "SELECT DISTINCT vector_dims(embedding) AS n FROM posting_embedding "
            "WHERE agency_id = $1 AND model = $2",
            UUID(agency.id),
            use.name,
        )
        assert [w["n"] for w in widths] == [512]
        # The service's own search query is served by the 512-d index (scans and sorts off: on
        # three rows the planner would rather read the table and sort).
        spy = _Recorder(conn)
        query = use.encode(["boulanger"])[0]
        async with conn.transaction():
            for plan_kind in ("seqscan", "bitmapscan", "sort"):
                await conn.execute(f"SET LOCAL enable_{plan_kind} = off")
            found = await candidates_db.posting_candidates(
                spy,
                agency_id=UUID(agency.id),
                model=use.name,
                query=query,
                lat=None,
                lon=None,
                radius_km=None,
                limit=3,
            )
            plan = await conn.fetch("EXPLAIN " + spy.sql, *spy.args)
    assert {str(f.id) for f in found} == set(ids)
    assert "posting_embedding_hnsw_512_idx" in " ".join(line[0] for line in plan)


class _Recorder:
    """A connection that remembers the last query it ran."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.sql = ""
        self.args: tuple[Any, ...] = ()

    async def fetch(self, sql: str, *args: Any) -> Any:
        self.sql, self.args = sql, args
        return await self._conn.fetch(sql, *args)
