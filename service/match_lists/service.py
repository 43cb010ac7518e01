"""Producing match lists: retrieve candidates, score them with `matching`, persist the list."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import numpy as np
import orjson

from matching.fairness.policy import apply_policy, group_label, placement_counts
from matching.normalise import OccupationSimilarity
from matching.profiles import PostingProfile, SeekerProfile
from matching.rank import (
    NON_PERSONALISED_VERSION,
    ScoredPair,
    non_personalised_candidates,
    non_personalised_order,
    score_postings_for_seeker,
    score_seekers_for_posting,
)
from matching.readability import list_warnings
from matching.score import Scorer
from service.audit import service as auditing
from service.auth.permissions import Principal
from service.capacity import repository as capacity_db
from service.capacity import service as capacity
from service.embeddings.service import serving_model
from service.fairness import repository as policies
from service.kit.metrics import LIST_ITEMS
from service.kit.problems import ProblemError, not_found
from service.match_lists import candidates_repository as candidates_db
from service.match_lists import repository as lists_db
from service.match_lists.presentation import to_response
from service.match_lists.repository import StoredItem, StoredList
from service.match_lists.retrieval import (
    _posting_profiles,
    _widened_radius,
    add_lexical_candidates,
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
ROUTES = {
    "postings_for_seeker": "GET /v1/seekers/{id}/matches",
    "seekers_for_posting": "GET /v1/postings/{id}/matches",
}


def _hash(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


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
) -> RankedPostings:
    """Hard filters, retrieval and scoring of postings for a seeker profile (nothing stored).

    Without a query vector (the seeker opted out of profiling) the order is non-personalised.
    """
    s = state.settings
    radius = seeker.max_distance_km or s.default_seeker_radius_km
    loc = seeker.location
    async with state.pool.acquire() as conn:
        vectors = None if query is None else await searchable_vectors(state, conn, embedding_model)
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
        lexical: dict[UUID, float] | None = None
        if query is not None:
            candidates, _ = await retrieve_postings(
                state, conn, vectors, model=embedding_model, query=query, enough=limit, **where
            )
            candidates, lexical = await add_lexical_candidates(
                state, conn, candidates, seeker, model=embedding_model, query=query, **where
            )
        else:
            # Opted out of profiling: no embedding, no learned score; nearest and newest first.
            candidates = await candidates_db.nearby_postings(conn, **where)
    candidates, postings = await _posting_profiles(state, candidates)
    if query is not None:
        # A few milliseconds of CPU for a pool of 100, run inline: a thread cannot run it in
        # parallel (the GIL) and only adds two hand-offs to every request.
        ranked = score_postings_for_seeker(
            seeker,
            postings,
            [c.cosine for c in candidates],
            scorer,
            radius_km=used_radius,
            language=language,
            lexicals=None if lexical is None else [lexical.get(c.id, 0.0) for c in candidates],
            occupations=occupation_similarity(state),
        )
    else:
        ranked = non_personalised_order(
            seeker, postings, radius_km=used_radius, now=datetime.now(UTC), language=language
        )
    return RankedPostings(ranked, candidates, postings, radius, used_radius)


async def postings_for_seeker(
    state: AppState, principal: Principal, seeker_id: UUID, *, limit: int, language: str
) -> MatchList:
    async with state.pool.acquire() as conn:
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
        input_hash = _hash(
            seeker_row.profile,
            limit,
            language,
            model_version,
            model,
            *([capacity_input] if capacity_input is not None else []),
        )
        reused = await _reuse(
            state,
            conn,
            principal,
            kind="postings_for_seeker",
            seeker_id=seeker_id,
            posting_id=None,
            input_hash=input_hash,
            limit=limit,
        )
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
    warned = _warned(
        ranked,
        limit,
        texts=_seeker_texts(seeker) if personalised else None,
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
    stored = await _persist(
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
    s = state.settings
    async with state.pool.acquire() as conn:
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
        input_hash = _hash(
            posting_row.profile,
            limit,
            language,
            model_version,
            model,
            policy_row.version if policy_row else None,
        )
        reused = await _reuse(
            state,
            conn,
            principal,
            kind="seekers_for_posting",
            seeker_id=None,
            posting_id=posting_id,
            input_hash=input_hash,
            limit=limit,
        )
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
    warned = _warned(
        ranked, limit, texts=_posting_texts(posting), model=model, language=language, top=top
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
    stored = await _persist(
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


def _seeker_texts(seeker: SeekerProfile) -> list[str]:
    """What a seeker wrote (not the canonical text's English connecting words)."""
    return [
        seeker.headline or "",
        seeker.summary or "",
        *(s.name for s in seeker.skills),
        *(o.title for o in seeker.desired_occupations),
    ]


def _posting_texts(posting: PostingProfile) -> list[str]:
    return [
        posting.title,
        posting.description or "",
        *(s.name for s in (*posting.skills_required, *posting.skills_preferred)),
    ]


def _warned(
    ranked: list[ScoredPair],
    limit: int,
    *,
    texts: list[str] | None,
    model: str,
    language: str,
    top: list[ScoredPair] | None = None,
) -> Callable[[ScoredPair], dict[str, Any]]:
    """Each item's explanation, with what makes the list's order unreliable (the same for every
    item; the list shows it as `warnings`): said in the notes too."""
    shown = top if top is not None else ranked[:limit]
    found = list_warnings(
        texts,
        [p.features.get("semantic") for p in ranked],
        [p.score for p in shown],
        model_name=model,
    )
    if not found:
        return lambda p: p.explanation
    block = [w.as_json(language) for w in found]

    def explained(p: ScoredPair) -> dict[str, Any]:
        e = p.explanation
        return {**e, "notes": [*e["notes"], *(w["message"] for w in block)], "warnings": block}

    return explained


async def _reuse(
    state: AppState,
    conn: Any,
    principal: Principal,
    *,
    kind: str,
    seeker_id: UUID | None,
    posting_id: UUID | None,
    input_hash: str,
    limit: int,
) -> MatchList | None:
    """The newest stored list made from the same input within the freshness window, when
    nothing it was made from changed since (match_lists/repository.reusable_list): answered
    again instead of storing an identical list (which would flood the review queue). The
    reuse is audited."""
    fresh = state.settings.match_list_reuse_seconds
    if fresh <= 0:
        return None
    list_id = await lists_db.reusable_list(
        conn,
        agency_id=principal.agency_id,
        kind=kind,
        seeker_id=seeker_id,
        posting_id=posting_id,
        input_hash=input_hash,
        fresh_seconds=fresh,
        limit=limit,
    )
    if list_id is None:
        return None
    async with conn.transaction():
        found = await lists_db.get_list(conn, agency_id=principal.agency_id, list_id=list_id)
        if found is None:  # erased in between
            return None
        await auditing.log(
            conn,
            principal,
            "match_list.reuse",
            subject_type="match_list",
            subject_id=list_id,
            route=ROUTES[kind],
        )
    stored, items = found
    return to_response(stored, items)


async def _persist(
    state: AppState,
    principal: Principal,
    *,
    kind: str,
    seeker_id: UUID | None,
    posting_id: UUID | None,
    personalised: bool,
    model_version: str,
    embedding_model: str,
    radius_km: float | None,
    radius_widened_km: float,
    considered: int,
    items: list[StoredItem],
    input_hash: str,
    fairness_policy: dict[str, Any] | None = None,
    policy_version: int | None = None,
    fairness: dict[str, Any] | None = None,
    capacity: dict[str, Any] | None = None,
) -> StoredList:
    fields: dict[str, Any] = {
        "agency_id": principal.agency_id,
        "kind": kind,
        "seeker_id": seeker_id,
        "posting_id": posting_id,
        "model_version": model_version,
        "embedding_model": embedding_model if personalised else "none",
        "personalised": personalised,
        "radius_km": radius_km,
        "radius_widened_km": radius_widened_km,
        "candidates_considered": considered,
        "fairness_policy": fairness_policy,
        "policy_version": policy_version,
        "fairness": fairness,
        "input_hash": input_hash,
    }
    audit = lists_db.AuditEntry(
        actor_key_id=principal.key_id,
        actor_role=principal.role.value,
        acted_by=principal.acting_person,
        action="match_list.create",
        route=ROUTES[kind],
        details={
            "kind": kind,
            "seeker_id": str(seeker_id) if seeker_id else None,
            "posting_id": str(posting_id) if posting_id else None,
            "input_hash": input_hash,
            "model_version": model_version,
            "policy_version": policy_version,
            "items": len(items),
        },
    )
    async with state.pool.acquire() as conn:
        list_id, created_at = await lists_db.insert_list(
            conn,
            created_by=principal.key_id,
            items=items,
            audit=audit,
            capacity=capacity,
            **fields,
        )
    LIST_ITEMS.labels(kind).observe(len(items))
    return StoredList(id=list_id, created_at=created_at, capacity=capacity, **fields)


async def ranking_switch(state: AppState, principal: Principal) -> lists_db.RankingStops:
    """Where automated ranking is stopped in the agency."""
    async with state.pool.acquire() as conn:
        return await lists_db.ranking_stops(conn, agency_id=principal.agency_id)


async def set_ranking(
    state: AppState, principal: Principal, *, posting_id: UUID | None, stopped: bool
) -> lists_db.RankingStops:
    """Stop or resume automated ranking for the agency (`posting_id` None) or one posting;
    audited when it changes. Lists made before keep their order; new ones show the change."""
    async with state.pool.acquire() as conn, conn.transaction():
        if posting_id is not None:
            row = await records_db.get(
                conn, "posting", agency_id=principal.agency_id, record_id=posting_id
            )
            if row is None:
                raise not_found("posting")
        if stopped:
            changed = await lists_db.stop_ranking(
                conn,
                agency_id=principal.agency_id,
                posting_id=posting_id,
                stopped_by=principal.key_id,
            )
        else:
            changed = await lists_db.resume_ranking(
                conn, agency_id=principal.agency_id, posting_id=posting_id
            )
        if changed:
            await auditing.log(
                conn,
                principal,
                "ranking.stop" if stopped else "ranking.resume",
                subject_type="posting" if posting_id else "agency",
                subject_id=posting_id or principal.agency_id,
            )
        return await lists_db.ranking_stops(conn, agency_id=principal.agency_id)
