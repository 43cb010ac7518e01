"""What would change the result, for one item of a stored match list.

For a candidate list (seekers for a posting): which single change to the seeker's profile would
lift them into the top 10 for that posting. For a seeker's job list: which single change would
bring the most new postings into their top 20. Each change is really re-scored: the changed
profile is re-embedded when its text changes, and ranked against the same competition.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from matching.features import pair_features
from matching.rank import unit_score
from matching.score import total
from matching.text import seeker_text
from matching.whatif import Change, changes_for_posting, changes_for_seeker
from service.audit import service as auditing
from service.auth.permissions import Principal
from service.embeddings.service import serving_model
from service.kit.problems import ProblemError, not_found
from service.match_lists import repository as matches_db
from service.match_lists.service import rank_postings
from service.records import convert
from service.records import repository as records_db
from service.scoring_models.service import active_scorer
from service.state import AppState

TOP_FOR_POSTING = 10
TOP_FOR_SEEKER = 20


async def _vectors(state: AppState, changes: list[Change]) -> dict[int, Any]:
    changed = [i for i, c in enumerate(changes) if c.text_changes]
    if not changed:
        return {}
    vecs = await state.embed([seeker_text(changes[i].seeker) for i in changed])
    return dict(zip(changed, vecs, strict=True))


async def what_would_change(
    state: AppState, principal: Principal, list_id: UUID, rank: int, *, language: str
) -> dict[str, Any]:
    async with state.pool.acquire() as conn, conn.transaction():
        found = await matches_db.get_list(conn, agency_id=principal.agency_id, list_id=list_id)
        if found is None:
            raise not_found("match list")
        stored, items = found
        item = next((it for it in items if it.rank == rank), None)
        if item is None:
            raise not_found("item at this rank")
        seeker_row = await records_db.get(
            conn, "seeker", agency_id=principal.agency_id, record_id=item.seeker_id
        )
        posting_row = await records_db.get(
            conn, "posting", agency_id=principal.agency_id, record_id=item.posting_id
        )
        if seeker_row is None or posting_row is None:
            raise not_found("seeker or posting (erased since the list was made)")
        model = await serving_model(state, conn, principal.agency_id)
        seeker_vec = await records_db.embedding_of(
            conn, "seeker", agency_id=principal.agency_id, record_id=item.seeker_id, model=model
        )
        posting_vec = await records_db.embedding_of(
            conn, "posting", agency_id=principal.agency_id, record_id=item.posting_id, model=model
        )
        scorer = await active_scorer(state, conn, principal.agency_id)
        await auditing.log(
            conn,
            principal,
            "match_list.what_would_change",
            subject_type="seeker",
            subject_id=item.seeker_id,
            match_list_id=str(list_id),
            rank=rank,
        )
    if not seeker_row.profile.get("personalised_ranking", True):
        raise ProblemError(
            409,
            "Not personalised",
            "The seeker opted out of profiling; their list follows distance and recency only.",
        )
    if seeker_vec is None or posting_vec is None or model != state.embedder.name:
        raise ProblemError(409, "Embedding not ready", "Retry once re-embedding has finished.")
    seeker = convert.seeker_profile(seeker_row.profile)
    posting = convert.posting_profile(posting_row.profile)

    if stored.kind == "seekers_for_posting":
        competition = sorted(
            (it.score for it in items if it.seeker_id != item.seeker_id), reverse=True
        )

        def rank_of(score: float) -> int:
            return 1 + sum(1 for other in competition if other > score)

        def score_of(profile: Any, vec: Any) -> float:
            pair = pair_features(profile, posting, cosine=float(vec @ posting_vec))
            return unit_score(scorer, total(scorer.contributions(pair.values)))

        now = score_of(seeker, seeker_vec)
        changes = changes_for_posting(seeker, posting)
        vectors = await _vectors(state, changes)
        suggestions = []
        for i, change in enumerate(changes):
            new = score_of(change.seeker, vectors.get(i, seeker_vec))
            if new <= now:
                continue  # re-scored, it does not help: no advice
            suggestions.append(
                {
                    "change": change.describe(),
                    "score": round(new, 6),
                    "rank": rank_of(new),
                    "reaches_target": rank_of(new) <= TOP_FOR_POSTING,
                }
            )
        return {
            "target": f"top {TOP_FOR_POSTING} for this posting",
            "current": {"score": round(now, 6), "rank": rank_of(now)},
            "suggestions": suggestions,
            "best": next((s for s in suggestions if s["reaches_target"]), None),
        }

    # A seeker's job list: how many new postings would each change bring into the top 20?
    base = await rank_postings(
        state,
        principal,
        seeker,
        seeker_vec,
        scorer=scorer,
        embedding_model=model,
        limit=TOP_FOR_SEEKER,
        language=language,
    )
    top_now = {base.candidates[p.candidate].id for p in base.ranked[:TOP_FOR_SEEKER]}
    changes = changes_for_seeker(
        seeker, base.postings, radius_step_km=state.settings.radius_step_km
    )
    vectors = await _vectors(state, changes)

    async def gain(i: int, change: Change) -> int:
        result = await rank_postings(
            state,
            principal,
            change.seeker,
            vectors.get(i, seeker_vec),
            scorer=scorer,
            embedding_model=model,
            limit=TOP_FOR_SEEKER,
            language=language,
        )
        top = {result.candidates[p.candidate].id for p in result.ranked[:TOP_FOR_SEEKER]}
        return len(top - top_now)

    gains = await asyncio.gather(*(gain(i, c) for i, c in enumerate(changes)))
    # most new postings first; among equals the cheaper change (changes come cheapest first)
    ordered = sorted(zip(changes, gains, strict=True), key=lambda cg: -cg[1])
    suggestions = [
        {"change": c.describe(), "new_postings_in_top": g, "reaches_target": g > 0}
        for c, g in ordered
    ]
    return {
        "target": f"more postings in the top {TOP_FOR_SEEKER}",
        "current": {"postings_in_top": len(top_now)},
        "suggestions": suggestions,
        "best": next((s for s in suggestions if s["reaches_target"]), None),
    }
