"""Producing match lists: retrieve candidates, score them with `matching`, persist the list."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np

from matching.fairness.policy import apply_policy, group_label, placement_counts
from matching.normalise import OccupationSimilarity
from matching.profiles import PostingProfile, SeekerProfile
from matching.rank import (
    NON_PERSONALISED_VERSION,
    ScoredPair,
    non_personalised_candidates,
    non_personalised_order,
    score_seeker_pairs,
    score_seekers_for_posting,
    seeker_pair_features,
)
from matching.score import Scorer
from service.auth.permissions import Principal
from service.capacity import repository as capacity_db
from service.capacity import service as capacity
from service.embeddings.service import serving_model
from service.fairness import repository as policies
from service.kit.problems import ProblemError, not_found
from service.kit.replicas import Acquirer, ReadSource
from service.match_lists import candidates_repository as candidates_db
from service.match_lists import repository as lists_db
from service.match_lists import storage
from service.match_lists.list_warnings import posting_texts, seeker_texts, warned_explanations
from service.match_lists.presentation import to_response
from service.match_lists.repository import StoredItem
from service.match_lists.retrieval import (
    _posting_profiles,
    _widened_radius,
    lexical_candidates,
    lexical_query_text,
    lexical_relevance,
    retrieve_postings,
    searchable_vectors,
)
from service.match_lists.schemas import MatchList
from service.records import convert
from service.records import protected_repository as protected_db
from service.records import repository as records_db
from service.scoring_models.service import active_scorer
from service.state import AppState

PROTECTED_ATTRIBUTES = protected_db.FIELDS
log = logging.getLogger(__name__)


def occupation_similarity(state: AppState) -> OccupationSimilarity | None:
    """The taxonomy-aware occupation similarity (ISCO codes alone without understanding)."""
    return state.understanding.similarity if state.understanding is not None else None


def _missing_embedding(kind: str) -> ProblemError:
    return ProblemError(
        409,
        "Embedding not ready",
        f"This {kind} has no embedding for the current model yet (re-embedding in progress); "
        "retry shortly.",
    )


@dataclass(frozen=True, slots=True)
class RankedPostings:
    ranked: list[ScoredPair]
    candidates: list[candidates_db.Candidate]
    postings: list[PostingProfile]
    radius: float  # the seeker's own (or the default)
    used_radius: float | None  # after widening; None without a location


async def rank_postings(
    state: AppState,
    principal: Principal,
    seeker: SeekerProfile,
    query: np.ndarray | None,
    *,
    scorer: Scorer,
    embedding_model: str,
    limit: int,
    language: str,
    source: ReadSource | None = None,
) -> RankedPostings:
    """Hard filters, retrieval and scoring of postings for a seeker profile (nothing stored).

    Without a query vector (the seeker opted out of profiling) the order is non-personalised.
    `source`: where candidates are read (a read replica, see kit/replicas.py); the primary
    without it.
    """
    s = state.settings
    radius = seeker.max_distance_km or s.default_seeker_radius_km
    loc = seeker.location
    reads: Acquirer = source or state.pool
    on_replica = source is not None and source.on_replica
    vectors = None
    if query is not None and on_replica:
        # The posting vectors follow the primary's change feed (a key's own writes and every
        # deletion are seen at once), whichever database the rest is read from.
        async with state.pool.acquire() as primary:
            vectors = await searchable_vectors(state, primary, embedding_model)
    # Hybrid retrieval's two full-text queries (the postings its words find; the vector
    # candidates' lexical relevance) run on connections of their own while this coroutine
    # searches the vectors and computes features: the database and the scoring work at the same
    # time. (This request never waits for a connection while it holds one: only the tasks do.)
    lexical: list[asyncio.Task[Any]] = []
    text = lexical_query_text(seeker) if s.lexical_candidate_pool > 0 else ""
    try:
        async with reads.acquire() as conn:
            if query is not None and not on_replica:
                vectors = await searchable_vectors(state, conn, embedding_model)
            used_radius: float | None = None
            if loc is not None:
                used_radius = await _widened_radius(
                    state, conn, principal, loc.lat, loc.lon, radius, vectors
                )
            where: dict[str, Any] = {
                "agency_id": principal.agency_id,
                "lat": loc.lat if loc else None,
                "lon": loc.lon if loc else None,
                "radius_km": used_radius,
                "limit": max(s.match_candidate_pool, limit),
            }
            if query is not None:
                if text:
                    common = await state.common_lexemes.read(conn)
                    lexical.append(
                        asyncio.create_task(
                            lexical_candidates(
                                reads,
                                text,
                                common,
                                model=embedding_model,
                                query=query,
                                **{**where, "limit": s.lexical_candidate_pool},
                            )
                        )
                    )
                    await asyncio.sleep(0)  # let it send its query before the CPU work below
                candidates, _ = await retrieve_postings(
                    state, conn, vectors, model=embedding_model, query=query, enough=limit, **where
                )
                if text:
                    lexical.append(
                        asyncio.create_task(
                            lexical_relevance(
                                reads, text, common, candidates, agency_id=principal.agency_id
                            )
                        )
                    )
            else:
                # Opted out of profiling: no embedding, no learned score; nearest and newest
                # first.
                candidates = await candidates_db.nearby_postings(conn, **where)
        if query is None:
            candidates, postings = await _posting_profiles(
                state, principal.agency_id, candidates, reads
            )
            ranked = non_personalised_order(
                seeker, postings, radius_km=used_radius, now=datetime.now(UTC), language=language
            )
            return RankedPostings(ranked, candidates, postings, radius, used_radius)
        if lexical:
            await asyncio.sleep(0)  # let the relevance query go before the CPU work below
        candidates, postings = await _posting_profiles(
            state, principal.agency_id, candidates, reads
        )
        # A few milliseconds of CPU for a pool of 100, run inline: a thread cannot run it in
        # parallel (the GIL) and only adds two hand-offs to every request.
        occupations = occupation_similarity(state)
        pairs = seeker_pair_features(
            seeker,
            postings,
            [c.cosine for c in candidates],
            radius_km=used_radius,
            occupations=occupations,
        )
        finding, ranking = await asyncio.gather(*lexical) if lexical else (None, None)
    finally:
        # No query outlives the request that asked for it (a no-op once both have answered).
        for task in lexical:
            task.cancel()
        await asyncio.gather(*lexical, return_exceptions=True)
    found, found_relevance = finding if finding is not None else ([], {})
    lexical_of = None if ranking is None else ranking | found_relevance
    seen = {c.id for c in candidates}
    found, found_postings = await _posting_profiles(
        state, principal.agency_id, [c for c in found if c.id not in seen], reads
    )
    pairs += seeker_pair_features(
        seeker,
        found_postings,
        [c.cosine for c in found],
        radius_km=used_radius,
        occupations=occupations,
    )
    candidates, postings = candidates + found, postings + found_postings
    ranked = score_seeker_pairs(
        seeker,
        postings,
        pairs,
        scorer,
        radius_km=used_radius,
        language=language,
        lexicals=None if lexical_of is None else [lexical_of.get(c.id, 0.0) for c in candidates],
    )
    return RankedPostings(ranked, candidates, postings, radius, used_radius)


async def postings_for_seeker(
    state: AppState, principal: Principal, seeker_id: UUID, *, limit: int, language: str
) -> MatchList:
    """The list is made from reads on a read replica when one has the key's own writes (else,
    or when the replica fails, on the primary) and stored on the primary."""
    return await state.replicas.read(
        lambda source: _postings_for_seeker(
            state, source, principal, seeker_id, limit=limit, language=language
        ),
        key_id=principal.key_id,
    )


async def _postings_for_seeker(
    state: AppState,
    source: ReadSource,
    principal: Principal,
    seeker_id: UUID,
    *,
    limit: int,
    language: str,
) -> MatchList:
    async with source.acquire() as conn:
        model = await serving_model(state, conn, principal.agency_id)
        found = await records_db.get_with_embedding(
            conn, "seeker", agency_id=principal.agency_id, record_id=seeker_id, model=model
        )
        if found is None:
            raise not_found("seeker")
        seeker_row, vector = found
        # Opted out of profiling, or automated ranking stopped for the agency (human
        # oversight): the non-personalised order.
        personalised = bool(
            seeker_row.profile.get("personalised_ranking", True)
        ) and not await lists_db.ranking_stopped(
            conn, agency_id=principal.agency_id, posting_id=None
        )
        if personalised and vector is None:
            raise _missing_embedding("seeker")
        query = vector if personalised else None
        scorer = await active_scorer(state, conn, principal.agency_id)
        model_version = scorer.version if personalised else NON_PERSONALISED_VERSION
        capacity_ctx = await capacity_db.serving_context(conn, agency_id=principal.agency_id)
        capacity_input = capacity.input_part(capacity_ctx)
        input_hash = storage.input_hash(
            seeker_row.profile,
            limit,
            language,
            model_version,
            model,
            *([capacity_input] if capacity_input is not None else []),
        )
        reusable = await storage.reusable(
            state,
            conn,
            principal,
            kind="postings_for_seeker",
            seeker_id=seeker_id,
            posting_id=None,
            input_hash=input_hash,
            limit=limit,
        )
    if reusable is not None:
        reused = await storage.reuse(state, principal, reusable, kind="postings_for_seeker")
        if reused is not None:
            return reused
    seeker = convert.seeker_profile(seeker_row.profile)
    result = await rank_postings(
        state,
        principal,
        seeker,
        query,
        scorer=scorer,
        embedding_model=model,
        limit=limit,
        language=language,
        source=source,
    )
    ranked, candidates, postings = result.ranked, result.candidates, result.postings
    used_radius, radius = result.used_radius, result.radius
    posting_ids = [c.id for c in candidates]
    # Capacity (service/capacity): postings past a hard cap left out, congestion prices
    # subtracted within the relevance floor, ties toward fewer applications.
    capacity_order = await capacity.apply_to_seeker_list(
        state,
        capacity_ctx,
        agency_id=principal.agency_id,
        ranked=ranked,
        posting_ids=posting_ids,
        openings=[p.openings for p in postings],
        limit=limit,
    )
    shown = capacity_order.shown if capacity_order is not None else ranked[:limit]
    lowered = capacity_order.item_blocks if capacity_order is not None else {}
    warned = warned_explanations(
        ranked,
        limit,
        texts=seeker_texts(seeker) if personalised else None,
        model=model,
        language=language,
        top=shown,
    )
    items = [
        StoredItem(
            rank=rank,
            seeker_id=seeker_id,
            posting_id=candidates[p.candidate].id,
            score=p.score,
            factors=p.factors,
            features=p.features,
            explanation=capacity.explained(warned(p), lowered.get(p.candidate), language),
            external_id=candidates[p.candidate].external_id,
            title=postings[p.candidate].title,
        )
        for rank, p in enumerate(shown, start=1)
    ]
    stored = await storage.persist(
        state,
        principal,
        kind="postings_for_seeker",
        seeker_id=seeker_id,
        posting_id=None,
        personalised=personalised,
        model_version=model_version,
        embedding_model=model,
        radius_km=used_radius,
        radius_widened_km=(used_radius - radius) if used_radius is not None else 0.0,
        considered=len(candidates),
        items=items,
        input_hash=input_hash,
        capacity=(
            {
                **capacity_order.list_block,
                "candidates": capacity.demand_candidates(ranked, posting_ids),
            }
            if capacity_order is not None
            else None
        ),
    )
    return to_response(stored, items)


async def seekers_for_posting(
    state: AppState, principal: Principal, posting_id: UUID, *, limit: int, language: str
) -> MatchList:
    """Read, ranked and stored as postings_for_seeker is."""
    return await state.replicas.read(
        lambda source: _seekers_for_posting(
            state, source, principal, posting_id, limit=limit, language=language
        ),
        key_id=principal.key_id,
    )


async def _seekers_for_posting(
    state: AppState,
    source: ReadSource,
    principal: Principal,
    posting_id: UUID,
    *,
    limit: int,
    language: str,
) -> MatchList:
    s = state.settings
    async with source.acquire() as conn:
        model = await serving_model(state, conn, principal.agency_id)
        found = await records_db.get_with_embedding(
            conn, "posting", agency_id=principal.agency_id, record_id=posting_id, model=model
        )
        if found is None:
            raise not_found("posting")
        posting_row, query = found
        posting = convert.posting_profile(posting_row.profile)
        if posting.valid_through is not None and posting.valid_through <= datetime.now(UTC):
            raise ProblemError(
                409,
                "Posting expired",
                "This posting's valid_through has passed; expired postings are never matched.",
                slug="posting-expired",
            )
        if query is None:
            raise _missing_embedding("posting")
        loc = posting.job_location
        retrieved = await candidates_db.seeker_candidates(
            conn,
            agency_id=principal.agency_id,
            model=model,
            query=query,
            lat=loc.lat if loc else None,
            lon=loc.lon if loc else None,
            remote=posting.remote_allowed,
            default_radius_km=s.default_seeker_radius_km,
            limit=max(s.match_candidate_pool, limit),
        )
        policy_row = await policies.current(conn, agency_id=principal.agency_id)
        scorer = await active_scorer(state, conn, principal.agency_id)
        # Automated ranking stopped for this posting or the agency (human oversight): the
        # candidates retrieved are put in the non-personalised order instead.
        stopped = await lists_db.ranking_stopped(
            conn, agency_id=principal.agency_id, posting_id=posting_id
        )
        model_version = NON_PERSONALISED_VERSION if stopped else scorer.version
        input_hash = storage.input_hash(
            posting_row.profile,
            limit,
            language,
            model_version,
            model,
            policy_row.version if policy_row else None,
        )
        reusable = await storage.reusable(
            state,
            conn,
            principal,
            kind="seekers_for_posting",
            seeker_id=None,
            posting_id=posting_id,
            input_hash=input_hash,
            limit=limit,
        )
    if reusable is not None:
        reused = await storage.reuse(state, principal, reusable, kind="seekers_for_posting")
        if reused is not None:
            return reused
    # Seeker profiles are personal data: read for this request, never kept in memory.
    candidates = [r.candidate for r in retrieved]
    seekers = [convert.seeker_profile(r.profile) for r in retrieved]
    # Scores are computed from profiles alone; protected data only re-orders afterwards.
    ranked: list[ScoredPair] = (
        non_personalised_candidates(
            posting, seekers, default_radius_km=s.default_seeker_radius_km, language=language
        )
        if stopped
        else score_seekers_for_posting(  # inline, as for seekers above
            posting,
            seekers,
            [c.cosine for c in candidates],
            scorer,
            default_radius_km=s.default_seeker_radius_km,
            language=language,
            occupations=occupation_similarity(state),
        )
    )
    policy = convert.fairness_policy(policy_row.policy if policy_row else None)
    attrs = [retrieved[p.candidate].protected for p in ranked]
    outcome = apply_policy(
        [p.score for p in ranked],
        [group_label(a, policy.attributes) for a in attrs],
        policy,
        limit,
    )
    fairness = {
        **outcome.report,
        "placement": placement_counts(attrs, outcome.order, PROTECTED_ATTRIBUTES),
    }
    top = [ranked[i] for i in outcome.order]
    warned = warned_explanations(
        ranked, limit, texts=posting_texts(posting), model=model, language=language, top=top
    )
    items = [
        StoredItem(
            rank=rank,
            seeker_id=candidates[p.candidate].id,
            posting_id=posting_id,
            score=p.score,
            factors=p.factors,
            features=p.features,
            explanation=warned(p),
            external_id=candidates[p.candidate].external_id,
            title=seekers[p.candidate].headline,
        )
        for rank, p in enumerate(top, start=1)
    ]
    stored = await storage.persist(
        state,
        principal,
        kind="seekers_for_posting",
        seeker_id=None,
        posting_id=posting_id,
        personalised=not stopped,
        model_version=model_version,
        embedding_model=model,
        radius_km=None,
        radius_widened_km=0.0,
        considered=len(candidates),
        items=items,
        input_hash=input_hash,
        fairness_policy=(
            {**policy_row.policy, "version": policy_row.version} if policy_row else None
        ),
        policy_version=policy_row.version if policy_row else None,
        fairness=fairness,
    )
    return to_response(stored, items)
