"""A stored match list as the API shows it, and what each role may see of it."""

from __future__ import annotations

import math

from service.auth.permissions import Principal
from service.match_lists.repository import StoredItem, StoredList
from service.match_lists.schemas import FairnessBlock, ListPolicy, MatchItem, MatchList
from service.records.representation import PROTECTED_READERS
from service.review.repository import Decision
from service.review.service import decision_out, final_ranks


def to_response(
    stored: StoredList,
    items: list[StoredItem],
    decisions: dict[int, list[Decision]] | None = None,
) -> MatchList:
    """The API body of a list, as stored; with `decisions` (review view) per item, newest first."""
    for_seeker = stored.kind == "postings_for_seeker"
    final = final_ranks(len(items), decisions) if decisions is not None else {}
    out = [
        MatchItem(
            rank=it.rank,
            seeker_id=None if for_seeker else it.seeker_id,
            posting_id=it.posting_id if for_seeker else None,
            external_id=it.external_id or "",
            title=it.title,
            score=it.score,
            # fsum: the same bits whatever order the factors come in (JSONB reorders keys)
            score_raw=math.fsum(it.factors.values()),
            factors=it.factors,
            explanation=it.explanation,  # type: ignore[arg-type]
            decisions=(
                [decision_out(d) for d in decisions.get(it.rank, [])]
                if decisions is not None
                else None
            ),
            final_rank=final.get(it.rank),
        )
        for it in items
    ]
    return MatchList(
        id=stored.id,
        kind=stored.kind,  # type: ignore[arg-type]
        seeker_id=stored.seeker_id,
        posting_id=stored.posting_id,
        created_at=stored.created_at,
        model_version=stored.model_version,
        embedding_model=stored.embedding_model,
        personalised=stored.personalised,
        radius_km=stored.radius_km,
        radius_widened_km=stored.radius_widened_km,
        candidates_considered=stored.candidates_considered,
        fairness_policy=(
            ListPolicy.model_validate(stored.fairness_policy) if stored.fairness_policy else None
        ),
        fairness=FairnessBlock.model_validate(stored.fairness) if stored.fairness else None,
        # the raw candidates it kept are the demand congestion prices are computed from
        capacity=(
            {k: v for k, v in stored.capacity.items() if k != "candidates"}
            if stored.capacity
            else None
        ),
        # Stored with every item's explanation (the same for all of them).
        warnings=out[0].explanation.warnings if out else [],
        items=out,
    )


# What of a list's fairness block a key without access to protected data sees: the policy's
# shape, not figures per group (pool shares, skew, placement counts), which in a short list or
# a small pool would tell the protected attributes of the few people in it.
PUBLIC_FAIRNESS_FIELDS = ("method", "attributes", "k", "pool_size", "alpha")


# What of the policy inside a list a key without `fairness_policy:read` (a portal) sees: which
# policy shaped the list, not its groups, shares, p or the admin's reason.
PUBLIC_POLICY_FIELDS = ("method", "attributes", "version")


def without_profiles(match_list: MatchList) -> MatchList:
    """A list as an auditor without access to profiles sees it: seekers by id only (no
    external id, no headline) and decisions without their free-text notes; scores, factors,
    explanations, reason codes and who decided stay, as oversight needs them."""
    for item in match_list.items:
        if item.seeker_id is not None:
            item.external_id, item.title = "", None
        for d in item.decisions or []:
            d.note = None
    return match_list


def visible_to(principal: Principal, match_list: MatchList) -> MatchList:
    policy, fairness = match_list.fairness_policy, match_list.fairness
    if policy and not principal.may("fairness_policy:read"):
        match_list.fairness_policy = ListPolicy(
            **policy.model_dump(include=set(PUBLIC_POLICY_FIELDS)),
            details="shown to keys that may read the fairness policy",
        )
    if fairness and principal.role not in PROTECTED_READERS:
        match_list.fairness = FairnessBlock(
            **fairness.model_dump(include=set(PUBLIC_FAIRNESS_FIELDS)),
            group_figures="shown to caseworker and admin keys only",
        )
    return match_list
