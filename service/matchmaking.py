"""Producing match lists: retrieve candidates, score them with `matching`, persist the list."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any
from uuid import UUID

import orjson

from matching.policy import apply_policy, group_label, placement_counts
from matching.rank import ScoredPair, score_postings_for_seeker, score_seekers_for_posting
from service import convert
from service.auth import Principal
from service.db import matches as db
from service.db import policies
from service.db import protected as protected_db
from service.db import records as records_db
from service.db.matches import StoredItem, StoredList
from service.errors import ProblemError, not_found
from service.schemas import MatchItem, MatchList
from service.state import AppState

PROTECTED_ATTRIBUTES = protected_db.FIELDS


def _hash(*parts: Any) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _missing_embedding(kind: str) -> ProblemError:
    return ProblemError(
        409,
        "Embedding not ready",
        f"This {kind} has no embedding for the current model yet (re-embedding in progress); "
        "retry shortly.",
    )


async def _widened_radius(
    state: AppState, conn: Any, principal: Principal, lat: float, lon: float, radius: float
) -> float:
    """France Travail style: widen in steps until enough postings lie within reach."""
    s = state.settings
    wanted = s.min_nearby_postings
    widened = radius
    while widened < radius + s.radius_max_extra_km:
        count = await db.count_postings_within(
            conn,
            agency_id=principal.agency_id,
            lat=lat,
            lon=lon,
            radius_km=widened,
            at_least=wanted,
        )
        if count >= wanted:
            break
        widened += s.radius_step_km
    return min(widened, radius + s.radius_max_extra_km)


async def postings_for_seeker(
    state: AppState, principal: Principal, seeker_id: UUID, *, limit: int, language: str
) -> MatchList:
    s = state.settings
    async with state.pool.acquire() as conn:
        seeker_row = await records_db.get(
            conn, "seeker", agency_id=principal.agency_id, record_id=seeker_id
        )
        if seeker_row is None:
            raise not_found("seeker")
        seeker = convert.seeker_profile(seeker_row.profile)
        query = await records_db.embedding_of(
            conn, "seeker", record_id=seeker_id, model=state.embedder.name
        )
        if query is None:
            raise _missing_embedding("seeker")
        radius = seeker.max_distance_km or s.default_seeker_radius_km
        loc = seeker.location
        used_radius: float | None = None
        if loc is not None:
            used_radius = await _widened_radius(state, conn, principal, loc.lat, loc.lon, radius)
        candidates = await db.posting_candidates(
            conn,
            agency_id=principal.agency_id,
            model=state.embedder.name,
            query=query,
            lat=loc.lat if loc else None,
            lon=loc.lon if loc else None,
            radius_km=used_radius,
            limit=max(s.match_candidate_pool, limit),
        )
    postings = [convert.posting_profile(c.profile) for c in candidates]
    ranked = await asyncio.to_thread(
        score_postings_for_seeker,
        seeker,
        postings,
        [c.cosine for c in candidates],
        state.scorer,
        radius_km=used_radius,
        language=language,
    )
    top = ranked[:limit]
    items = [
        StoredItem(
            rank=rank,
            seeker_id=seeker_id,
            posting_id=candidates[p.candidate].id,
            score=p.score,
            factors=p.factors,
            features=p.features,
            explanation=p.explanation,
        )
        for rank, p in enumerate(top, start=1)
    ]
    stored = await _persist(
        state,
        principal,
        kind="postings_for_seeker",
        seeker_id=seeker_id,
        posting_id=None,
        personalised=True,
        radius_km=used_radius,
        radius_widened_km=(used_radius - radius) if used_radius is not None else 0.0,
        considered=len(candidates),
        items=items,
        input_hash=_hash(seeker_row.profile, limit, used_radius),
    )
    extra = {candidates[p.candidate].id: candidates[p.candidate] for p in top}
    return to_response(stored, items, {k: (c.external_id, c.profile) for k, c in extra.items()})


async def seekers_for_posting(
    state: AppState, principal: Principal, posting_id: UUID, *, limit: int, language: str
) -> MatchList:
    s = state.settings
    async with state.pool.acquire() as conn:
        posting_row = await records_db.get(
            conn, "posting", agency_id=principal.agency_id, record_id=posting_id
        )
        if posting_row is None:
            raise not_found("posting")
        posting = convert.posting_profile(posting_row.profile)
        query = await records_db.embedding_of(
            conn, "posting", record_id=posting_id, model=state.embedder.name
        )
        if query is None:
            raise _missing_embedding("posting")
        loc = posting.job_location
        candidates = await db.seeker_candidates(
            conn,
            agency_id=principal.agency_id,
            model=state.embedder.name,
            query=query,
            lat=loc.lat if loc else None,
            lon=loc.lon if loc else None,
            remote=posting.remote_allowed,
            default_radius_km=s.default_seeker_radius_km,
            limit=max(s.match_candidate_pool, limit),
        )
        policy_row = await policies.current(conn, agency_id=principal.agency_id)
        protected = await protected_db.get_many(
            conn, agency_id=principal.agency_id, seeker_ids=[c.id for c in candidates]
        )
    seekers = [convert.seeker_profile(c.profile) for c in candidates]
    # Scores are computed from profiles alone; protected data only re-orders afterwards.
    ranked: list[ScoredPair] = await asyncio.to_thread(
        score_seekers_for_posting,
        posting,
        seekers,
        [c.cosine for c in candidates],
        state.scorer,
        language=language,
    )
    policy = convert.fairness_policy(policy_row.policy if policy_row else None)
    attrs = [protected.get(candidates[p.candidate].id) for p in ranked]
    outcome = await asyncio.to_thread(
        apply_policy,
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
    items = [
        StoredItem(
            rank=rank,
            seeker_id=candidates[p.candidate].id,
            posting_id=posting_id,
            score=p.score,
            factors=p.factors,
            features=p.features,
            explanation=p.explanation,
        )
        for rank, p in enumerate(top, start=1)
    ]
    stored = await _persist(
        state,
        principal,
        kind="seekers_for_posting",
        seeker_id=None,
        posting_id=posting_id,
        personalised=True,
        radius_km=None,
        radius_widened_km=0.0,
        considered=len(candidates),
        items=items,
        input_hash=_hash(posting_row.profile, limit),
        fairness_policy=(
            {**policy_row.policy, "version": policy_row.version} if policy_row else None
        ),
        policy_version=policy_row.version if policy_row else None,
        fairness=fairness,
    )
    refs = {candidates[p.candidate].id: candidates[p.candidate] for p in top}
    return to_response(stored, items, {k: (c.external_id, c.profile) for k, c in refs.items()})


async def _persist(
    state: AppState,
    principal: Principal,
    *,
    kind: str,
    seeker_id: UUID | None,
    posting_id: UUID | None,
    personalised: bool,
    radius_km: float | None,
    radius_widened_km: float,
    considered: int,
    items: list[StoredItem],
    input_hash: str,
    fairness_policy: dict[str, Any] | None = None,
    policy_version: int | None = None,
    fairness: dict[str, Any] | None = None,
) -> StoredList:
    fields: dict[str, Any] = {
        "agency_id": principal.agency_id,
        "kind": kind,
        "seeker_id": seeker_id,
        "posting_id": posting_id,
        "model_version": state.scorer.version,
        "embedding_model": state.embedder.name,
        "personalised": personalised,
        "radius_km": radius_km,
        "radius_widened_km": radius_widened_km,
        "candidates_considered": considered,
        "fairness_policy": fairness_policy,
        "policy_version": policy_version,
        "fairness": fairness,
        "input_hash": input_hash,
    }
    async with state.pool.acquire() as conn, conn.transaction():
        list_id, created_at = await db.insert_list(
            conn, created_by=principal.key_id, items=items, **fields
        )
    return StoredList(id=list_id, created_at=created_at, **fields)


def to_response(
    stored: StoredList,
    items: list[StoredItem],
    refs: dict[UUID, tuple[str, dict[str, Any]]],
) -> MatchList:
    """The API body of a list; `refs` maps the other side's ids to (external_id, profile)."""
    for_seeker = stored.kind == "postings_for_seeker"
    out = []
    for it in items:
        other = it.posting_id if for_seeker else it.seeker_id
        external_id, profile = refs.get(other, ("", {}))
        out.append(
            MatchItem(
                rank=it.rank,
                seeker_id=None if for_seeker else str(it.seeker_id),
                posting_id=str(it.posting_id) if for_seeker else None,
                external_id=external_id,
                title=profile.get("title") if for_seeker else profile.get("headline"),
                score=it.score,
                factors=it.factors,
                explanation=it.explanation,  # type: ignore[arg-type]
            )
        )
    return MatchList(
        id=str(stored.id),
        kind=stored.kind,  # type: ignore[arg-type]
        seeker_id=str(stored.seeker_id) if stored.seeker_id else None,
        posting_id=str(stored.posting_id) if stored.posting_id else None,
        created_at=stored.created_at,
        model_version=stored.model_version,
        embedding_model=stored.embedding_model,
        personalised=stored.personalised,
        radius_km=stored.radius_km,
        radius_widened_km=stored.radius_widened_km,
        candidates_considered=stored.candidates_considered,
        fairness_policy=stored.fairness_policy,
        fairness=stored.fairness,
        items=out,
    )
