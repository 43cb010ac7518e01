"""Fairness report over a period."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from service.auth.dependencies import State, authorize
from service.auth.permissions import Principal
from service.kit.http import API_V1, Timestamp, problems
from service.kit.problems import FieldError, validation_problem
from service.reports import service as reporting

router = APIRouter(prefix=API_V1, tags=["reports"])


class FairnessReport(BaseModel):
    period: dict[str, datetime]
    top_k_placement: dict[str, Any] = Field(
        description="Candidate lists: selection rate = share of a group's candidates placed in "
        "the returned top k; impact ratio = rate / highest rate (four-fifths rule flags < 0.8)"
    )
    shortlisting: dict[str, Any] = Field(
        description="Candidates shown in lists: share shortlisted or contacted by caseworkers"
    )
    recommendations: dict[str, Any] = Field(
        description="Jobs for seekers: mean score and mean offered monthly salary of the top 10"
    )


def _period(from_: datetime | None, to: datetime | None) -> tuple[datetime, datetime]:
    """[from, to): default the last 30 days; a time without zone is UTC."""
    until = to or datetime.now(UTC)
    since = from_ or until - timedelta(days=30)
    if since.tzinfo is None or until.tzinfo is None:
        since, until = (
            since.replace(tzinfo=since.tzinfo or UTC),
            until.replace(tzinfo=until.tzinfo or UTC),
        )
    if since >= until:
        raise validation_problem([FieldError(field="query.from", message="must be before 'to'")])
    return since, until


@router.get(
    "/reports/fairness",
    response_model=FairnessReport,
    responses=problems(422),
    operation_id="fairness_report",
)
async def fairness_report(
    state: State,
    principal: Annotated[Principal, Depends(authorize("reports:read"))],
    from_: Annotated[
        Timestamp | None, Query(alias="from", description="default: 30 days ago")
    ] = None,
    to: Annotated[Timestamp | None, Query(description="default: now")] = None,
) -> FairnessReport:
    """Impact ratios of top-k placement and of shortlisting per protected attribute, and the
    quality of the jobs recommended to each group, over a period. Seekers without consent are
    counted as unknown and left out of the ratios."""
    since, until = _period(from_, to)
    report = await reporting.fairness_report(
        state.pool, agency_id=principal.agency_id, since=since, until=until
    )
    return FairnessReport(period={"from": since, "to": until}, **report)


class MarketPosting(BaseModel):
    posting_id: UUID
    external_id: str
    openings: int
    exposure: float = Field(description="Σ 1/log2(rank + 1) over the job lists that show it")
    exposure_per_opening: float
    top10_appearances: int
    applications: int = Field(description="Outcomes `applied` recorded in the period")
    applications_per_opening: float


class MarketFigures(BaseModel):
    gini_exposure: float = Field(
        description="Gini of exposure over the postings open in the period (never shown = 0): "
        "0 = even, near 1 = on a few"
    )
    share_never_recommended: float = Field(description="Open postings in no job list")
    congestion_at_10: float = Field(
        description="Σ s_j log s_j / log N, s_j the share of top-10 slots posting j takes, N "
        "open postings: −1 = even, 0 = all on one (Mashayekhi et al., RecSys 2023)"
    )
    coverage_at_10: float = Field(description="Share of open postings in some top 10")
    mean_relevance_given_up: float = Field(
        description="Mean over job lists of the score given up for capacity (mean of the top "
        "`limit` scores, plain minus shown); 0 for lists without a capacity policy"
    )


class MarketDay(MarketFigures):
    day: date
    lists: int
    applications: int


class MarketReport(MarketFigures):
    period: dict[str, datetime]
    k: int
    active_postings: int
    lists: int = Field(description="Job lists for seekers made in the period")
    lists_under_capacity: int
    applications: int
    postings_total: int
    postings: list[MarketPosting] = Field(
        description="The most exposed per opening first, at most `limit`"
    )
    trend: list[MarketDay] = Field(description="The same figures per UTC day")


@router.get(
    "/reports/market",
    response_model=MarketReport,
    responses=problems(422),
    operation_id="market_report",
)
async def market_report(
    state: State,
    principal: Annotated[Principal, Depends(authorize("reports:read"))],
    from_: Annotated[
        Timestamp | None, Query(alias="from", description="default: 30 days ago")
    ] = None,
    to: Annotated[Timestamp | None, Query(description="default: now")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="postings listed")] = 50,
) -> MarketReport:
    """Congestion of the job market the service recommends: exposure and applications per
    opening, Gini of exposure, the share of postings never recommended, Congestion@10,
    Coverage@10 and the relevance job lists gave up for capacity, over a period and per day."""
    since, until = _period(from_, to)
    report = await reporting.market_report(
        state.pool, agency_id=principal.agency_id, since=since, until=until, limit=limit
    )
    return MarketReport(period={"from": since, "to": until}, **report)
