"""The fairness report over a period: placement, shortlisting and recommendation quality per
protected group, computed by `matching.audit_report` from the stored lists and decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from matching.audit_report import placement_impact, recommendation_quality, selection_impact
from matching.features import monthly_amount
from service.records.protected_repository import FIELDS
from service.reports import repository as reports

TOP_RECOMMENDATIONS = 10


def _monthly(salary: dict[str, Any] | None) -> float | None:
    if not salary:
        return None
    amount = salary.get("max") if salary.get("max") is not None else salary.get("min")
    return None if amount is None else monthly_amount(float(amount), str(salary.get("period")))


async def fairness_report(
    pool: asyncpg.Pool, *, agency_id: UUID, since: datetime, until: datetime
) -> dict[str, Any]:
    """The report's sections, keyed as the API names them."""
    async with pool.acquire() as conn:
        placed = await reports.placements(conn, agency_id=agency_id, since=since, until=until)
        shortlisted = await reports.shortlisting(
            conn, agency_id=agency_id, since=since, until=until
        )
        recommended = await reports.recommendations(
            conn, agency_id=agency_id, since=since, until=until, top=TOP_RECOMMENDATIONS
        )
    for row in recommended:
        row["salary"] = _monthly(row["salary"])
    return {
        "top_k_placement": placement_impact(placed),
        "shortlisting": selection_impact(shortlisted, FIELDS),
        "recommendations": recommendation_quality(recommended, FIELDS),
    }
