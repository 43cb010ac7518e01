"""Match routes: postings for a seeker, seekers for a posting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from service.auth.dependencies import State, authorize, parse_id
from service.auth.permissions import Principal
from service.kit.http import API_V1, AcceptLanguage, language, problems
from service.match_lists import presentation, ranking_switch
from service.match_lists import service as matchmaking
from service.match_lists.repository import RankingStops
from service.match_lists.schemas import (
    MatchList,
    RankingSwitch,
    RankingSwitchIn,
    StoppedPosting,
)

router = APIRouter(prefix=API_V1, tags=["matches"])
Matcher = Annotated[Principal, Depends(authorize("matches:create"))]
SwitchReader = Annotated[Principal, Depends(authorize("ranking:read"))]
SwitchWriter = Annotated[Principal, Depends(authorize("ranking:write"))]
MatchLimit = Annotated[int, Query(ge=1, le=100, description="Items in the list (max 100)")]


@router.get(
    "/seekers/{seeker_id}/matches",
    response_model=MatchList,
    responses=problems(404, 409, 422),
    operation_id="match_postings_for_seeker",
)
async def postings_for_seeker(
    seeker_id: str,
    response: Response,
    state: State,
    principal: Matcher,
    limit: MatchLimit = 20,
    accept_language: AcceptLanguage = None,
) -> MatchList:
    """Rank active postings for a seeker; the list is stored and can be reviewed later."""
    lang = language(accept_language)
    response.headers["Content-Language"] = lang  # of the explanation notes
    produced = await matchmaking.postings_for_seeker(
        state, principal, parse_id(seeker_id, "seeker"), limit=limit, language=lang
    )
    return presentation.visible_to(principal, produced)


@router.get(
    "/postings/{posting_id}/matches",
    response_model=MatchList,
    responses=problems(404, 409, 422),
    operation_id="match_seekers_for_posting",
)
async def seekers_for_posting(
    posting_id: str,
    response: Response,
    state: State,
    principal: Matcher,
    limit: MatchLimit = 20,
    accept_language: AcceptLanguage = None,
) -> MatchList:
    """Rank seekers for a posting; the list is stored and can be reviewed later."""
    lang = language(accept_language)
    response.headers["Content-Language"] = lang  # of the explanation notes
    produced = await matchmaking.seekers_for_posting(
        state, principal, parse_id(posting_id, "posting"), limit=limit, language=lang
    )
    return presentation.visible_to(principal, produced)


def switch_out(stops: RankingStops) -> RankingSwitch:
    return RankingSwitch(
        agency_stopped=stops.agency is not None,
        agency_stopped_at=stops.agency,
        stopped_postings=[
            StoppedPosting(posting_id=p, stopped_at=at) for p, at in stops.postings.items()
        ],
    )


@router.get(
    "/automated-ranking",
    response_model=RankingSwitch,
    responses=problems(),
    operation_id="get_automated_ranking",
)
async def get_automated_ranking(state: State, principal: SwitchReader) -> RankingSwitch:
    """Where automated ranking is stopped: for the agency, and for which postings."""
    return switch_out(await ranking_switch.ranking_switch(state, principal))


@router.put(
    "/automated-ranking",
    response_model=RankingSwitch,
    responses=problems(404, 422),
    operation_id="set_automated_ranking",
)
async def set_automated_ranking(
    body: RankingSwitchIn, state: State, principal: SwitchWriter
) -> RankingSwitch:
    """Stop (or resume) automated ranking for the agency or one posting: new lists are then
    made in the non-personalised order (no embedding, no learned model; `personalised` false),
    which the console shows with a banner. Lists made before keep their order. Audited."""
    posting_id = parse_id(body.posting_id, "posting") if body.posting_id is not None else None
    stops = await ranking_switch.set_ranking(
        state, principal, posting_id=posting_id, stopped=body.stopped
    )
    return switch_out(stops)
