"""Changing the embedding model: re-embed in the background, serve the old vectors meanwhile.

When the configured model has not yet made a vector for every seeker and posting of an agency,
matching for that agency keeps using the model that made the old vectors; a `reembed` job on the
queue fills in the new ones, and the switch happens by itself once they are complete. Records
written during the switch get only the new model's vector, so they join the lists then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from uuid import UUID

import asyncpg

from service.background_jobs import repository as jobs_db
from service.background_jobs.repository import Job
from service.background_jobs.worker import Progress
from service.embeddings import repository as embeddings_db
from service.kit.pool import DATABASE_UNAVAILABLE
from service.records import repository as records_db
from service.records.preparation import canonical_text, parse_body
from service.records.repository import Kind
from service.state import AppState

log = logging.getLogger("jobmatch.embeddings")
BATCH = 256
# Vectors added to the HNSW index per transaction: a job queued meanwhile waits at most one
# batch (a fraction of a second) before the worker takes it.
INDEX_BATCH = 64
KINDS: tuple[Kind, ...] = ("seeker", "posting")
CACHE_SECONDS = 5.0


async def serving_model(state: AppState, conn: asyncpg.Connection, agency_id: UUID) -> str:
    """The model whose vectors matching uses for this agency now.

    Deciding reads every record of the agency (is any without a current vector?), so the answer
    is cached and, once older than CACHE_SECONDS, served while a background task re-decides:
    the check never sits on a request's path except the agency's first.
    """
    cached = state.serving_models.get(agency_id)
    if cached is None:
        return await _decide_serving_model(state, conn, agency_id)
    if time.monotonic() - cached[1] >= CACHE_SECONDS and agency_id not in state.refreshing:
        state.refreshing.add(agency_id)
        task = asyncio.create_task(_refresh_serving_model(state, agency_id))
        state.background.add(task)
        task.add_done_callback(state.background.discard)
    return cached[0]


async def _refresh_serving_model(state: AppState, agency_id: UUID) -> None:
    try:
        async with state.pool.acquire() as conn:
            await _decide_serving_model(state, conn, agency_id)
    except (*DATABASE_UNAVAILABLE, asyncpg.PostgresError) as exc:
        log.warning("serving model check failed", extra={"error": type(exc).__name__})
    finally:
        state.refreshing.discard(agency_id)


async def _decide_serving_model(state: AppState, conn: asyncpg.Connection, agency_id: UUID) -> str:
    current = state.embedder.name
    model = current
    for kind in KINDS:
        missing = await records_db.missing_embeddings(
            conn, kind, agency_id=agency_id, model=current, limit=1
        )
        if missing:
            model = (
                await records_db.previous_model(conn, kind, agency_id=agency_id, other_than=current)
                or current
            )
            break
    state.serving_models[agency_id] = (model, time.monotonic())
    return model


async def enqueue_reembedding(state: AppState) -> list[UUID]:
    """Queue a re-embedding job for every agency with records the current model has not seen
    (unless one is already queued or running). Never raises: a start-up check that finds the
    database away is simply tried again at the next start."""
    try:
        return await _enqueue_reembedding(state)
    except Exception as exc:
        log.warning("could not check for missing embeddings: %s", type(exc).__name__)
        return []


async def _enqueue_reembedding(state: AppState) -> list[UUID]:
    async with state.pool.acquire() as conn:
        agencies = await records_db.agencies_missing_embeddings(conn, model=state.embedder.name)
        queued = []
        for agency_id in agencies:
            async with conn.transaction():
                # one job per agency even when several replicas start at once
                await conn.execute("SELECT 1 FROM agency WHERE id = $1 FOR UPDATE", agency_id)
                if await jobs_db.pending_of_kind(conn, agency_id=agency_id, kind="reembed"):
                    continue
                job = await jobs_db.create(
                    conn,
                    agency_id=agency_id,
                    kind="reembed",
                    created_by=None,
                    created_by_role="admin",
                    params={"requires_model": state.embedder.name},
                )
                queued.append(job.id)
    if queued:
        log.info("queued re-embedding for %d agencies", len(queued))
    return queued


async def reembed(state: AppState, job: Job, progress: Progress) -> dict[str, Any]:
    model = state.embedder.name  # the queue hands this job only to workers running it
    async with state.pool.acquire() as conn:
        total = sum(
            [
                await records_db.count_missing_embeddings(
                    conn, kind, agency_id=job.agency_id, model=model
                )
                for kind in KINDS
            ]
        )
    done = 0
    await progress(done, total, "embedding")
    for kind in KINDS:
        while True:
            async with state.pool.acquire() as conn:
                rows = await records_db.missing_embeddings(
                    conn, kind, agency_id=job.agency_id, model=model, limit=BATCH
                )
            if not rows:
                break
            bodies = [
                parse_body(kind, {**r.profile, "external_id": r.external_id}, loc=()) for r in rows
            ]
            vectors = await state.embed([canonical_text(kind, b) for b in bodies])
            async with state.pool.acquire() as conn:
                await records_db.upsert_embeddings(
                    conn,
                    kind,
                    agency_id=job.agency_id,
                    model=model,
                    record_ids=[r.id for r in rows],
                    vectors=vectors,
                )
            done += len(rows)
            await progress(done, max(total, done), f"embedding {kind}s")
    # Complete: the old vectors are no longer served, so their space is given back.
    async with state.pool.acquire() as conn, conn.transaction():
        for kind in KINDS:
            await records_db.drop_other_models(conn, kind, agency_id=job.agency_id, keep=model)
    state.serving_models.pop(job.agency_id, None)
    return {"model": model, "embedded": done}


async def index_waiting_vectors(state: AppState) -> bool:
    """Add one batch of the vectors a bulk import stored outside the HNSW index to it (migration
    0020); False when none wait (or another worker is adding some: one at a time).

    The job worker calls this when no job is queued, so the graph inserts never slow an import
    down: they run after it, between other jobs. Until then searches compare those vectors one
    by one, so nothing waits to be found."""
    async with state.pool.acquire() as conn, conn.transaction():
        if not await embeddings_db.take_index_turn(conn):
            return False
        for kind in KINDS:
            agency_id = await embeddings_db.agency_with_waiting_vectors(conn, kind)
            if agency_id is not None and await embeddings_db.index_waiting_vectors(
                conn, kind, agency_id=agency_id, limit=INDEX_BATCH
            ):
                return True
    return False
