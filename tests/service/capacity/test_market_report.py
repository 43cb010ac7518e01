"""The market report equals a direct computation from the stored job lists and outcomes."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from tests.factories import Agency, posting_body, seeker_body


def _gini(values: list[float]) -> float:
    """By its definition: mean absolute difference over twice the mean."""
    n, total = len(values), sum(values)
    if not n or not total:
        return 0.0
    return sum(abs(a - b) for a in values for b in values) / (2 * n * total)


async def test_market_report_matches_the_stored_lists_and_outcomes(
    agency: Agency, pool: asyncpg.Pool
) -> None:
    c, portal, cw = agency.client, agency.auth("portal"), agency.auth("caseworker")
    postings = [(await c.post("/v1/postings", json=posting_body("P-0"), headers=portal)).json()]
    for i in range(1, 8):
        body = posting_body(
            f"P-{i}",
            title=f"Stock clerk {i}",
            skills_required=[{"name": "stock control"}, {"name": "inventory software"}],
            openings=i % 3 + 1,
        )
        postings.append((await c.post("/v1/postings", json=body, headers=portal)).json())
    expired = posting_body("P-old", valid_through="2020-01-01T00:00:00Z")
    assert (await c.post("/v1/postings", json=expired, headers=portal)).status_code == 201
    rows = [seeker_body(f"S-{i}") for i in range(5)]
    assert (await c.post("/v1/seekers:bulk", json=rows, headers=portal)).json()["created"] == 5
    seekers = [
        s["id"]
        for s in (await c.get("/v1/seekers", params={"limit": 50}, headers=cw)).json()["items"]
    ]
    for s in seekers[:3]:
        r = await c.get(f"/v1/seekers/{s}/matches", params={"limit": 5}, headers=cw)
        assert r.status_code == 200
    r = await c.put(
        "/v1/capacity-policy",
        json={"method": "balanced", "relevance_floor": 0.2, "headroom": 1.0},
        headers=agency.auth("admin"),
    )
    assert r.status_code == 200
    r = await c.post("/v1/capacity-policy:rebalance", headers=agency.auth("admin"))
    assert r.status_code == 202
    for s in seekers[3:]:
        r = await c.get(f"/v1/seekers/{s}/matches", params={"limit": 12}, headers=cw)
        assert r.status_code == 200
    for s, p in ((seekers[0], 0), (seekers[1], 0), (seekers[2], 3)):
        r = await c.post(
            "/v1/outcomes",
            json={"seeker_id": s, "posting_id": postings[p]["id"], "outcome": "applied"},
            headers=cw,
        )
        assert r.status_code == 201
    r = await c.post(
        "/v1/outcomes",
        json={"seeker_id": seekers[4], "posting_id": postings[1]["id"], "outcome": "hired"},
        headers=cw,
    )
    assert r.status_code == 201

    assert (await c.get("/v1/reports/market", headers=cw)).status_code == 403
    r = await c.get(
        "/v1/reports/market",
        params={"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=agency.auth("auditor"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.from"
    r = await c.get("/v1/reports/market", params={"limit": 3}, headers=agency.auth("auditor"))
    assert r.status_code == 200, r.text
    report = r.json()

    # the same figures straight from the tables
    async with pool.acquire() as conn:
        items = await conn.fetch(
            "SELECT i.posting_id, i.rank, l.id AS list_id, l.capacity FROM match_item i "
            "JOIN match_list l ON l.id = i.match_list_id "
            "WHERE l.agency_id = $1 AND l.kind = 'postings_for_seeker'",
            UUID(agency.id),
        )
        lists = await conn.fetch(
            "SELECT capacity FROM match_list WHERE agency_id = $1 AND kind = 'postings_for_seeker'",
            UUID(agency.id),
        )
        applied = await conn.fetch(
            "SELECT posting_id FROM outcome WHERE agency_id = $1 AND outcome = 'applied'",
            UUID(agency.id),
        )
    active = [UUID(p["id"]) for p in postings]
    openings = {UUID(p["id"]): p["openings"] for p in postings}
    exposure: dict[UUID, float] = defaultdict(float)
    top10: dict[UUID, int] = defaultdict(int)
    for it in items:
        exposure[it["posting_id"]] += 1 / math.log2(it["rank"] + 1)
        top10[it["posting_id"]] += it["rank"] <= 10
    total = sum(top10.values())
    n = len(active)
    shares = [top10[p] / total for p in active if top10[p]]
    given_up = [(lst["capacity"] or {}).get("relevance_given_up", 0.0) for lst in lists]
    assert report["active_postings"] == n == 8
    assert report["lists"] == len(lists) == 5 and report["lists_under_capacity"] == 2
    assert report["applications"] == 3
    assert report["gini_exposure"] == pytest.approx(_gini([exposure[p] for p in active]))
    assert report["share_never_recommended"] == pytest.approx(
        sum(1 for p in active if p not in exposure) / n
    )
    assert report["congestion_at_10"] == pytest.approx(
        sum(s * math.log(s) for s in shares) / math.log(n)
    )
    assert report["coverage_at_10"] == pytest.approx(sum(1 for p in active if top10[p]) / n)
    assert report["mean_relevance_given_up"] == pytest.approx(sum(given_up) / len(given_up))
    assert report["postings_total"] == n and len(report["postings"]) == 3
    per_opening = sorted((exposure[p] / openings[p] for p in active), reverse=True)
    assert [row["exposure_per_opening"] for row in report["postings"]] == pytest.approx(
        per_opening[:3]
    )
    full = (
        await c.get("/v1/reports/market", params={"limit": 100}, headers=agency.auth("admin"))
    ).json()
    applications = defaultdict(int, {UUID(p["id"]): 0 for p in postings})
    for a in applied:
        applications[a["posting_id"]] += 1
    got: dict[str, Any] = {row["posting_id"]: row for row in full["postings"]}
    for p in active:
        row = got[str(p)]
        assert row["applications"] == applications[p]
        assert row["applications_per_opening"] == pytest.approx(applications[p] / openings[p])
        assert row["exposure"] == pytest.approx(exposure[p]) and row["openings"] == openings[p]
    # everything happened today (UTC): the trend has that day, with the period's figures
    assert sum(d["lists"] for d in report["trend"]) == 5
    if len(report["trend"]) == 1:
        [day] = report["trend"]
        assert day["gini_exposure"] == pytest.approx(report["gini_exposure"])
        assert day["coverage_at_10"] == pytest.approx(report["coverage_at_10"])
