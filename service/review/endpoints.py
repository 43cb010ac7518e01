"""Caseworker review: stored match lists, decisions, outcomes."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, status

from service.auth.dependencies import State, authorize, parse_id
from service.auth.permissions import Principal
from service.kit.http import API_V1, AcceptLanguage, Cursor, Limit, Timestamp, language, problems
from service.kit.idempotency import Idempotent
from service.kit.schemas import Page
from service.match_lists.presentation import to_response, visible_to, without_profiles
from service.match_lists.schemas import MatchList
from service.review import service as reviews
from service.review import whatif
from service.review.schemas import (
    DecisionsIn,
    DecisionsOut,
    MatchListSummary,
    OutcomeIn,
    OutcomeOut,
    WhatIf,
)

router = APIRouter(prefix=API_V1, tags=["review"])
Reviewer = Annotated[Principal, Depends(authorize("match_lists:read"))]
Advisor = Annotated[Principal, Depends(authorize("match_lists:what_if"))]
Decider = Annotated[Principal, Depends(authorize("decisions:write"))]
Reporter = Annotated[Principal, Depends(authorize("outcomes:write"))]


@router.get(
    "/match-lists",
    response_model=Page[MatchListSummary],
    responses=problems(422),
    operation_id="list_match_lists",
)
async def list_match_lists(
    state: State,
    principal: Reviewer,
    limit: Limit = 50,
    cursor: Cursor = None,
    posting_id: UUID | None = None,
    seeker_id: UUID | None = None,
    from_: Annotated[Timestamp | None, Query(alias="from")] = None,
    to: Timestamp | None = None,
    reviewed: Annotated[
        bool | None, Query(description="false: only lists without any decision yet")
    ] = None,
) -> Page[MatchListSummary]:
    """Your agency's match lists, newest first."""
    # From a read replica when one has the key's own writes (its own lists among them).
    rows, next_cursor = await state.replicas.read(
        lambda source: reviews.list_summaries(
            source,
            agency_id=principal.agency_id,
            seeker_id=seeker_id,
            posting_id=posting_id,
            since=from_,
            until=to,
            unreviewed=reviewed is False,
            cursor=cursor,
            limit=limit,
        ),
        key_id=principal.key_id,
    )
    profiles = await reviews.profiles_visible(state.pool, principal)
    return Page[MatchListSummary](
        items=[
            MatchListSummary(
                **{
                    **r.model_dump(),
                    **({} if profiles else {"seeker_external_id": None}),
                    "id": str(r.id),
                    "seeker_id": str(r.seeker_id) if r.seeker_id else None,
                    "posting_id": str(r.posting_id) if r.posting_id else None,
                }
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )


@router.get(
    "/match-lists/{list_id}",
    response_model=MatchList,
    responses=problems(404),
    operation_id="get_match_list",
)
async def get_match_list(list_id: str, state: State, principal: Reviewer) -> MatchList:
    """A stored list exactly as produced, with each item's decisions and rank after overrides."""
    stored, items, decisions, profiles = await reviews.read_list(
        state.pool, principal, parse_id(list_id, "match list")
    )
    shown = visible_to(principal, to_response(stored, items, decisions))
    return shown if profiles else without_profiles(shown)


@router.post(
    "/match-lists/{list_id}/decisions",
    response_model=DecisionsOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(404, 422),
    operation_id="record_decisions",
)
async def record_decisions(
    list_id: str, body: DecisionsIn, state: State, principal: Decider, _: Idempotent
) -> DecisionsOut:
    """Shortlist, reject (with a reason code), contact, or override (move to a rank, with a
    reason). Decisions are append-only: a newer one supersedes, the older stays visible."""
    out = await reviews.record_decisions(
        state, principal, parse_id(list_id, "match list"), body.decisions
    )
    return DecisionsOut(items=out)


@router.post(
    "/outcomes",
    response_model=OutcomeOut,
    status_code=status.HTTP_201_CREATED,
    responses=problems(404, 422),
    operation_id="record_outcome",
)
async def record_outcome(
    body: OutcomeIn, state: State, principal: Reporter, _: Idempotent
) -> OutcomeOut:
    """Record what happened for a seeker–posting pair: applied, interviewed, hired, not_hired."""
    return await reviews.record_outcome(state, principal, body)


@router.get(
    "/match-lists/{list_id}/items/{rank}/what-would-change",
    response_model=WhatIf,
    responses=problems(404, 409),
    operation_id="what_would_change",
)
async def what_would_change(
    list_id: str,
    rank: Annotated[int, Path(ge=1, le=1000)],
    state: State,
    principal: Advisor,
    accept_language: AcceptLanguage = None,
) -> WhatIf:
    """The smallest changes to the seeker's profile (one missing required skill, a wider radius,
    another employment type) that would reach the top 10 for the posting, or bring more
    postings into the seeker's top 20 — each one re-scored, not guessed."""
    result = await whatif.what_would_change(
        state, principal, parse_id(list_id, "match list"), rank, language=language(accept_language)
    )
    return WhatIf(**result)
