"""Changing the embedding model: background re-embedding, old vectors served until complete.

The second model is a deterministic hashing embedder of the same width: what is tested here is
the switch-over (which vectors are served when), not the quality of either model.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import httpx
from asgi_lifespan import LifespanManager

from matching.embed import HashingEmbedder
from service.app import create_app
from service.background_jobs import repository as jobs_db
from service.background_jobs.worker import Progress
from service.embeddings import service as embeddings
from tests.factories import Agency, posting_body, seeker_body


async def test_switching_models_reembeds_in_the_background(
    agency: Agency, settings: Any, pool: Any, embedder: Any
) -> None:
    c, h = agency.client, agency.auth("portal")
    sid = (await c.post("/v1/seekers", json=seeker_body(), headers=h)).json()["id"]
    await c.post("/v1/postings", json=posting_body("P-a"), headers=h)
    await c.post("/v1/postings", json=posting_body("P-b"), headers=h)

    new_model = HashingEmbedder(384, name="hashing-384")
    # The stand-in model knows no language: no text understanding (it would encode every
    # ESCO label with it at start-up).
    switched = settings.model_copy(update={"run_worker": False, "understand_text": False})
    app2 = create_app(switched, embedder=new_model)
    try:
        async with LifespanManager(app2):
            state = app2.state.jobmatch
            for _ in range(100):  # queued in the background at start-up
                async with pool.acquire() as conn:
                    job_id = await conn.fetchval(
                        "SELECT id FROM job WHERE agency_id = $1::uuid AND kind = 'reembed' "
                        "AND status = 'queued'",
                        agency.id,
                    )
                if job_id is not None:
                    break
                await asyncio.sleep(0.1)
            assert job_id is not None  # queued at start-up for the agency's unseen records

            transport = httpx.ASGITransport(app=app2)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c2:
                # still matching, on the old model's vectors
                before = (await c2.get(f"/v1/seekers/{sid}/matches", headers=h)).json()
                assert before["embedding_model"] == embedder.name
                assert len(before["items"]) == 2

                async with pool.acquire() as conn:
                    job = await jobs_db.claim(
                        conn, worker="test", kinds=["reembed"], model="hashing-384"
                    )
                while job is not None and job.agency_id != UUID(agency.id):
                    async with pool.acquire() as conn:  # other agencies' jobs: not ours to run
                        await jobs_db.finish(
                            conn, agency_id=job.agency_id, job_id=job.id, status="cancelled"
                        )
                        job = await jobs_db.claim(
                            conn, worker="test", kinds=["reembed"], model="hashing-384"
                        )
                assert job is not None
                result = await embeddings.reembed(state, job, Progress(state, job))
                assert result == {"model": "hashing-384", "embedded": 3}
                state.serving_models.clear()

                after = (await c2.get(f"/v1/seekers/{sid}/matches", headers=h)).json()
                assert after["embedding_model"] == "hashing-384"
                assert len(after["items"]) == 2
            async with pool.acquire() as conn:
                models = await conn.fetch(
                    "SELECT DISTINCT model FROM posting_embedding WHERE agency_id = $1::uuid",
                    agency.id,
                )
            assert [m["model"] for m in models] == ["hashing-384"]  # old vectors given back
    finally:
        async with pool.acquire() as conn:  # leave no job for the other test agencies behind
            await conn.execute(
                "UPDATE job SET status = 'cancelled' WHERE kind = 'reembed' AND status = 'queued'"
            )
