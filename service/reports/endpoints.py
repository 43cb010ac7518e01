"""The fairness and market reports over a period."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from service.auth.dependencies import State, authorize
from service.auth.permissions import Principal
from service.kit.http import API_V1, Timestamp, problems, report_period
from service.reports import service as reporting
from service.reports.schemas import FairnessReport, MarketReport, Period

router = APIRouter(prefix=API_V1, tags=["reports"])


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
    since, until = report_period(from_, to)
    report = await state.replicas.read(  # from a read replica that has the key's own writes
        lambda source: reporting.fairness_report(
            source, agency_id=principal.agency_id, since=since, until=until
        ),
        key_id=principal.key_id,
    )
    return FairnessReport(period=Period.model_validate({"from": since, "to": until}), **report)


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
    offset: Annotated[
        int, Query(ge=0, le=1_000_000, description="postings skipped (the next page)")
    ] = 0,
) -> MarketReport:
    """Congestion of the job market the service recommends: exposure and applications per
    opening, Gini of exposure, the share of postings never recommended, Congestion@10,
    Coverage@10 and the relevance job lists gave up for capacity, over a period and per day."""
    since, until = report_period(from_, to)
    report = await state.replicas.read(  # as the fairness report
        lambda source: reporting.market_report(
            source,
            agency_id=principal.agency_id,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        ),
        key_id=principal.key_id,
    )
    return MarketReport(period=Period.model_validate({"from": since, "to": until}), **report)
