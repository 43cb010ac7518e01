"""Fairness report over a period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from matching.audit_report import placement_impact, recommendation_quality, selection_impact
from matching.features import monthly_amount
from service.api.common import Timestamp, problems
from service.auth import Principal
from service.db import reports
from service.db.protected import FIELDS
from service.deps import State, authorize
from service.errors import FieldError, validation_problem

router = APIRouter(tags=["reports"])
TOP_RECOMMENDATIONS = 10


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


def _monthly(salary: dict[str, Any] | None) -> float | None:
    if not salary:
        return None
    amount = salary.get("max") if salary.get("max") is not None else salary.get("min")
    return None if amount is None else monthly_amount(float(amount), str(salary.get("period")))


@router.get(
    "/v1/reports/fairness",
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
    until = to or datetime.now(UTC)
    since = from_ or until - timedelta(days=30)
    if since.tzinfo is None or until.tzinfo is None:
        since, until = (
            since.replace(tzinfo=since.tzinfo or UTC),
            until.replace(tzinfo=until.tzinfo or UTC),
        )
    if since >= until:
        raise validation_problem([FieldError(field="query.from", message="must be before 'to'")])
    async with state.pool.acquire() as conn:
        placed = await reports.placements(
            conn, agency_id=principal.agency_id, since=since, until=until
        )
        shortlisted = await reports.shortlisting(
            conn, agency_id=principal.agency_id, since=since, until=until
        )
        recommended = await reports.recommendations(
            conn, agency_id=principal.agency_id, since=since, until=until, top=TOP_RECOMMENDATIONS
        )
    for row in recommended:
        row["salary"] = _monthly(row["salary"])
    return FairnessReport(
        period={"from": since, "to": until},
        top_k_placement=placement_impact(placed),
        shortlisting=selection_impact(shortlisted, FIELDS),
        recommendations=recommendation_quality(recommended, FIELDS),
    )
