"""Retrieval of candidate postings for a seeker: from the posting vectors in memory when they
are loaded, else from the database; converted profiles kept between requests."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from uuid import UUID

import numpy as np

from matching.profiles import PostingProfile, SeekerProfile
from service.auth.permissions import Principal
from service.embeddings.posting_vectors import PostingVectors
from service.embeddings.shared_profiles import SharedPostingProfiles
from service.kit.metrics import RETRIEVALS
from service.kit.replicas import Acquirer
from service.match_lists import candidates_repository as candidates_db
from service.state import AppState

log = logging.getLogger(__name__)
LEXICAL_SUMMARY_CHARS = 300


async def _widened_radius(
    state: AppState,
    conn: Any,
    principal: Principal,
    lat: float,
    lon: float,
    radius: float,
    vectors: PostingVectors | None,
) -> float:
    """France Travail style: widen in steps until enough postings lie within reach (counted
    in memory when the vectors are there)."""
    s = state.settings
    wanted = s.min_nearby_postings
    widened = radius
    while widened < radius + s.radius_max_extra_km:
        where: dict[str, Any] = {
            "agency_id": principal.agency_id,
            "lat": lat,
            "lon": lon,
            "radius_km": widened,
        }
        if vectors is not None:
            count = vectors.count_within(**where, at_least=wanted)
        else:
            count = await candidates_db.count_postings_within(conn, **where, at_least=wanted)
        if count >= wanted:
            break
        widened += s.radius_step_km
    return min(widened, radius + s.radius_max_extra_km)


async def _posting_profiles(
    state: AppState,
    agency_id: UUID,
    candidates: list[candidates_db.Candidate],
    source: Acquirer | None = None,
) -> tuple[list[candidates_db.Candidate], list[PostingProfile]]:
    """The candidates' profiles, converted; from memory where the version is current (the
    process's cache, then the snapshot's records every worker maps), else read in one query
    from `source` (a read replica; the primary without it), converted after its connection is
    back in the pool. A posting deleted since retrieval is dropped with its candidate."""
    cache = state.posting_profiles
    shared = _shared_postings(state)
    found = {c.id: p for c in candidates if (p := cache.get(c.id, c.version)) is not None}
    if shared is not None and len(found) < len(candidates):
        wanted = [(c.id, c.version) for c in candidates if c.id not in found]
        found.update((key, profile) for key, (_, profile) in shared.found(wanted).items())
    missing = [c.id for c in candidates if c.id not in found]
    if missing:
        async with (source or state.pool).acquire() as conn:
            rows = await candidates_db.profiles_of(
                conn, "posting", agency_id=agency_id, ids=missing
            )
        for record_id, version, profile in rows:
            found[record_id] = cache.put(record_id, version, profile)
    kept = [c for c in candidates if c.id in found]
    return kept, [found[c.id] for c in kept]


def _shared_postings(state: AppState) -> SharedPostingProfiles | None:
    """The converted postings of the posting vectors' snapshot, when one is mapped. When a new
    one is, the process's cache is emptied: it held what the previous snapshot lacked, which
    the new one has (or a request reads it again)."""
    vectors = state.posting_vectors
    shared = vectors.postings if vectors is not None else None
    generation = shared.generation if shared is not None else None
    if generation != state.posting_profiles.generation:
        state.posting_profiles.clear(generation)
    return shared


# Postings read per query while warming, and converted between two turns of the event loop:
# about 10 ms of conversion, so requests served meanwhile wait no longer than that.
WARM_PAGE = 1000

WARM_SLICE = 250


async def warm_posting_profiles(state: AppState) -> int:
    """Read active postings into the process's posting cache until it is full or none are
    left; run in the background at start-up. Postings are public data (seekers never enter
    the cache). Returns how many were added."""
    cache = state.posting_profiles
    started = time.perf_counter()
    after = UUID(int=0)
    added = unreadable = 0
    while cache.room():
        async with state.pool.acquire() as conn:
            page = await candidates_db.active_posting_profiles(
                conn, after=after, limit=min(WARM_PAGE, cache.room())
            )
        if not page:
            break
        for start in range(0, len(page), WARM_SLICE):
            for record_id, version, profile in page[start : start + WARM_SLICE]:
                try:
                    added += cache.offer(record_id, version, profile)
                except (KeyError, TypeError, ValueError):
                    # A stored profile matching cannot read: left to the request that meets
                    # it, which reports it; the other postings are still warmed.
                    unreadable += 1
            await asyncio.sleep(0)
        after = page[-1][0]
    log.info(
        "posting cache warmed: %d postings added in %.1f s (%d held, %d unreadable)",
        added,
        time.perf_counter() - started,
        len(cache),
        unreadable,
    )
    return added


async def searchable_vectors(state: AppState, conn: Any, model: str) -> PostingVectors | None:
    """The process's posting vectors of `model`, read up to date, if they can be searched."""
    vectors = state.posting_vectors
    if vectors is None or vectors.model != model or not await vectors.sync(conn):
        return None  # the database's indexes instead
    return vectors


async def retrieve_postings(
    state: AppState,
    conn: Any,
    vectors: PostingVectors | None,
    *,
    agency_id: UUID,
    model: str,
    query: np.ndarray,
    lat: float | None,
    lon: float | None,
    radius_km: float | None,
    limit: int,
    enough: int,
) -> tuple[list[candidates_db.Candidate], bool]:
    """Up to `limit` active postings nearest in meaning to `query` and in reach, and whether
    the database's exact plan gave them. From memory when `vectors` are given; else the exact
    plan when few postings are in reach, else the HNSW index (and the exact plan after all
    when its scan stopped short of `enough`)."""
    place: dict[str, Any] = {"lat": lat, "lon": lon, "radius_km": radius_km, "limit": limit}
    if vectors is not None:
        RETRIEVALS.labels("memory").inc()
        return vectors.nearest(query, agency_id=agency_id, **place), False
    where = {"agency_id": agency_id, "model": model, "query": query, **place}
    exact = False
    if lat is not None and lon is not None and radius_km is not None:
        at_most = state.settings.exact_search_below
        in_reach = await candidates_db.count_reachable_postings(
            conn,
            agency_id=agency_id,
            model=model,
            lat=lat,
            lon=lon,
            radius_km=radius_km,
            at_most=at_most,
        )
        exact = in_reach < at_most
    candidates = await candidates_db.posting_candidates(conn, exact=exact, **where)
    if not exact and len(candidates) < enough and radius_km is not None:
        # The HNSW scan stopped (hnsw.max_scan_tuples) before `enough` postings in reach
        # turned up: the nearest in meaning lie out of reach. Rare and slow, so the exact
        # plan runs only then.
        RETRIEVALS.labels("index_then_exact").inc()
        return await candidates_db.posting_candidates(conn, exact=True, **where), True
    RETRIEVALS.labels("exact" if exact else "index").inc()
    return candidates, exact


def lexical_query_text(seeker: SeekerProfile) -> str:
    """The words of a seeker that say what work they do: headline, wanted occupations (stated
    and inferred), skills, and the start of the summary. The summary's tail adds mostly words
    every posting has, which would make the full-text search slow and unselective."""
    parts = [seeker.headline or ""]
    parts += [o.title for o in seeker.desired_occupations]
    parts += [o.title for o in seeker.inferred_occupations]
    parts += [s.name for s in seeker.skills]
    parts.append((seeker.summary or "")[:LEXICAL_SUMMARY_CHARS])
    return " ".join(p for p in parts if p)


async def lexical_candidates(
    source: Acquirer,
    text: str,
    common: list[str],
    *,
    agency_id: UUID,
    model: str,
    query: np.ndarray,
    lat: float | None,
    lon: float | None,
    radius_km: float | None,
    limit: int,
) -> tuple[list[candidates_db.Candidate], dict[UUID, float]]:
    """Hybrid retrieval's full-text half: the `limit` postings that full-text search finds for
    the seeker's words (`lexical_query_text`) under the same filters as the vector search, with
    their lexical relevance. The scorer ranks them with the vector search's candidates on the
    same features, lexical relevance among them, so a posting that says the seeker's trade in
    other words than the embedding expects can still be rescued. Needs nothing from the vector
    search, so it runs beside it, on a connection of `source`'s own. `common`: the postings'
    common words (`state.common_lexemes`), read once per request so that this and
    `lexical_relevance` rank by the same words."""
    async with source.acquire() as conn:
        return await candidates_db.lexical_posting_candidates(
            conn,
            common=common,
            agency_id=agency_id,
            model=model,
            query=query,
            text=text,
            lat=lat,
            lon=lon,
            radius_km=radius_km,
            limit=limit,
        )


async def lexical_relevance(
    source: Acquirer,
    text: str,
    common: list[str],
    candidates: list[candidates_db.Candidate],
    *,
    agency_id: UUID,
) -> dict[UUID, float]:
    """The lexical relevance of the vector search's candidates for the seeker's words, as
    `lexical_candidates` ranks what it finds; on a connection of `source`'s own."""
    async with source.acquire() as conn:
        return await candidates_db.lexical_relevance(
            conn, agency_id=agency_id, text=text, common=common, ids=[c.id for c in candidates]
        )
