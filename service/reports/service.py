"""The fairness report over a period: placement, shortlisting and recommendation quality per
protected group, computed by `matching.audit_report` from the stored lists and decisions."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from matching.audit_report import placement_impact, recommendation_quality, selection_impact
from matching.capacity import congestion_at_k, coverage_at_k, gini
from matching.features import monthly_amount
from service.kit.replicas import Acquirer
from service.records.protected_repository import FIELDS
from service.reports import repository as reports

TOP_RECOMMENDATIONS = 10


def _monthly(salary: dict[str, Any] | None) -> float | None:
    if not salary:
        return None
    amount = salary.get("max") if salary.get("max") is not None else salary.get("min")
    return None if amount is None else monthly_amount(float(amount), str(salary.get("period")))


async def fairness_report(
    pool: Acquirer, *, agency_id: UUID, since: datetime, until: datetime
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


MARKET_TOP = 10  # Congestion@10 and Coverage@10


def _market_figures(
    active: list[UUID],
    exposure: dict[UUID, float],
    top: dict[UUID, int],
    seen: dict[UUID, int],
) -> dict[str, float]:
    n = len(active)
    return {
        "gini_exposure": gini([exposure.get(p, 0.0) for p in active]),
        "share_never_recommended": (
            sum(1 for p in active if seen.get(p, 0) == 0) / n if n else 0.0
        ),
        "congestion_at_10": congestion_at_k([top.get(p, 0) for p in active], n),
        "coverage_at_10": coverage_at_k([top.get(p, 0) for p in active], n),
    }


def _open_on(posting: dict[str, Any], day: date) -> bool:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    valid = posting["valid_through"]
    return bool(posting["created_at"] < start + timedelta(days=1)) and (
        valid is None or valid >= start
    )


async def market_report(
    pool: Acquirer,
    *,
    agency_id: UUID,
    since: datetime,
    until: datetime,
    limit: int,
    offset: int = 0,
) -> dict[str, Any]:
    """Exposure and applications per opening, Gini of exposure over the open postings, the
    share never recommended, Congestion@10 and Coverage@10 (matching.capacity), the mean
    relevance job lists gave up for capacity, for the period and per UTC day."""
    async with pool.acquire() as conn:
        postings = await reports.market_postings(
            conn, agency_id=agency_id, since=since, until=until
        )
        shown = await reports.market_exposure(
            conn, agency_id=agency_id, since=since, until=until, top=MARKET_TOP
        )
        lists = await reports.market_lists(conn, agency_id=agency_id, since=since, until=until)
        applied = await reports.market_applications(
            conn, agency_id=agency_id, since=since, until=until
        )
    by_id = {p["id"]: p for p in postings}
    active = list(by_id)
    exposure: dict[UUID, float] = defaultdict(float)
    top: dict[UUID, int] = defaultdict(int)
    seen: dict[UUID, int] = defaultdict(int)
    days: dict[date, dict[str, Any]] = defaultdict(
        lambda: {
            "exposure": defaultdict(float),
            "top": defaultdict(int),
            "seen": defaultdict(int),
            "lists": 0,
            "under_capacity": 0,
            "given_up": 0.0,
            "applications": 0,
        }
    )
    for row in shown:
        pid, d = row["posting_id"], days[row["day"]]
        exposure[pid] += row["exposure"]
        top[pid] += row["top_appearances"]
        seen[pid] += row["appearances"]
        d["exposure"][pid] += row["exposure"]
        d["top"][pid] += row["top_appearances"]
        d["seen"][pid] += row["appearances"]
    applications: dict[UUID, int] = defaultdict(int)
    for row in applied:
        applications[row["posting_id"]] += row["n"]
        days[row["day"]]["applications"] += row["n"]
    for row in lists:
        d = days[row["day"]]
        d["lists"], d["under_capacity"], d["given_up"] = (
            row["lists"],
            row["under_capacity"],
            row["given_up"],
        )
    n_lists = sum(r["lists"] for r in lists)
    per_posting = sorted(
        (
            {
                "posting_id": pid,
                "external_id": p["external_id"],
                "openings": p["openings"],
                "exposure": exposure.get(pid, 0.0),
                "exposure_per_opening": exposure.get(pid, 0.0) / p["openings"],
                "top10_appearances": top.get(pid, 0),
                "applications": applications.get(pid, 0),
                "applications_per_opening": applications.get(pid, 0) / p["openings"],
            }
            for pid, p in by_id.items()
        ),
        key=lambda r: (
            -r["exposure_per_opening"],
            -r["applications_per_opening"],
            str(r["posting_id"]),
        ),
    )
    trend = []
    for day in sorted(days):
        d = days[day]
        open_then = [pid for pid, p in by_id.items() if _open_on(p, day)]
        trend.append(
            {
                "day": day,
                "lists": d["lists"],
                "applications": d["applications"],
                **_market_figures(open_then, d["exposure"], d["top"], d["seen"]),
                "mean_relevance_given_up": d["given_up"] / d["lists"] if d["lists"] else 0.0,
            }
        )
    return {
        "k": MARKET_TOP,
        "active_postings": len(active),
        "lists": n_lists,
        "lists_under_capacity": sum(r["under_capacity"] for r in lists),
        "applications": sum(applications.values()),
        **_market_figures(active, exposure, top, seen),
        "mean_relevance_given_up": (
            sum(r["given_up"] for r in lists) / n_lists if n_lists else 0.0
        ),
        "postings_total": len(per_posting),
        "postings": per_posting[offset : offset + limit],
        "trend": trend,
    }
