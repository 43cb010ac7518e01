"""Capacity-aware matching through the API: the policy (versions, validation, audit), the
congestion-price job, hard caps and prices in seekers' job lists with their explanation, and
candidate lists that still follow the fairness policy."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from matching.fairness import fair_mtable, is_fair
from tests.factories import Agency, posting_body, seeker_body

FLOOR = 0.3


async def _wait_for(client: httpx.AsyncClient, job_id: str, headers: dict[str, str]) -> Any:
    job: Any = None
    for _ in range(600):
        job = (await client.get(f"/v1/jobs/{job_id}", headers=headers)).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


async def _put(agency: Agency, policy: dict[str, Any]) -> httpx.Response:
    return await agency.client.put("/v1/capacity-policy", json=policy, headers=agency.auth("admin"))


async def test_policy_versions_validation_permissions_and_audit(agency: Agency) -> None:
    c = agency.client
    r = await c.get("/v1/capacity-policy", headers=agency.auth("auditor"))
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 0 and r.json()["method"] == "none" and r.json()["prices"] is None
    assert (await c.get("/v1/capacity-policy", headers=agency.auth("portal"))).status_code == 403
    policy = {"method": "cap", "max_applications_per_opening": 80, "reason": "La bonne alternance"}
    for role in ("portal", "caseworker", "auditor"):
        r = await c.put("/v1/capacity-policy", json=policy, headers=agency.auth(role))
        assert r.status_code == 403, role
    r = await c.post("/v1/capacity-policy:rebalance", headers=agency.auth("auditor"))
    assert r.status_code == 403
    # bad input: 422 naming the field, nothing stored
    for bad, field in (
        (
            {"method": "cap", "max_applications_per_opening": None},
            "body.max_applications_per_opening",
        ),
        ({"method": "spread"}, "body.method"),
        ({"relevance_floor": 1.5}, "body.relevance_floor"),
        ({"headroom": 0.5}, "body.headroom"),
        ({"max_applications_per_opening": 0}, "body.max_applications_per_opening"),
        ({"max_exposure_per_opening_per_week": -1}, "body.max_exposure_per_opening_per_week"),
        ({"floor": 0.1}, "body.floor"),
    ):
        r = await _put(agency, bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == [field], r.json()
    assert (await c.get("/v1/capacity-policy", headers=agency.auth("admin"))).json()["version"] == 0

    r = await _put(agency, policy)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1 and r.json()["relevance_floor"] == 0.1
    admin_key = r.json()["created_by"]
    r = await _put(agency, {"method": "balanced", "relevance_floor": 0.2, "reason": "spread"})
    assert r.json()["version"] == 2 and r.json()["max_applications_per_opening"] == 80
    r = await c.get("/v1/capacity-policy/history", headers=agency.auth("auditor"))
    items = r.json()["items"]
    assert [(v["version"], v["method"], v["reason"]) for v in items] == [
        (2, "balanced", "spread"),
        (1, "cap", "La bonne alternance"),
    ]
    assert all(v["created_by"] == admin_key for v in items)
    r = await c.get(
        "/v1/audit-events",
        params={"action": "capacity_policy.update"},
        headers=agency.auth("auditor"),
    )
    events = r.json()["items"]
    assert sorted(e["details"]["version"] for e in events) == [1, 2]
    assert {e["details"]["method"] for e in events} == {"cap", "balanced"}
    assert all(e["actor_key_id"] == admin_key for e in events)


def _rival(i: int) -> dict[str, Any]:
    """A forklift posting a little less attractive than the full match (a lower salary, other
    required skills)."""
    return posting_body(
        f"P-{i}",
        title=f"Forklift driver, site {i}",
        skills_required=[{"name": "operate forklift"}, {"name": "order picking"}],
        skills_preferred=[],
        base_salary={"min": 2400, "max": 2700, "currency": "EUR", "period": "MONTH"},
    )


async def _market(agency: Agency, seekers: int) -> tuple[str, list[str], list[str]]:
    """The full-match posting, five rivals, and seekers who all prefer the full match."""
    c, portal = agency.client, agency.auth("portal")
    star = (await c.post("/v1/postings", json=posting_body("P-star"), headers=portal)).json()["id"]
    rivals = [
        (await c.post("/v1/postings", json=_rival(i), headers=portal)).json()["id"]
        for i in range(5)
    ]
    rows = [seeker_body(f"S-{i}") for i in range(seekers)]
    r = await c.post("/v1/seekers:bulk", json=rows, headers=portal)
    assert r.json()["created"] == seekers, r.text
    listed = (
        await c.get("/v1/seekers", params={"limit": 200}, headers=agency.auth("caseworker"))
    ).json()
    return star, rivals, [s["id"] for s in listed["items"]]


async def _matches(agency: Agency, seeker_id: str, language: str = "en") -> Any:
    r = await agency.client.get(
        f"/v1/seekers/{seeker_id}/matches",
        params={"limit": 10},
        headers={**agency.auth("caseworker"), "Accept-Language": language},
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_rebalance_prices_the_crowded_posting_and_the_list_says_why(
    agency: Agency, pool: asyncpg.Pool
) -> None:
    c, admin = agency.client, agency.auth("admin")
    star, rivals, seekers = await _market(agency, 12)
    plain = {s: await _matches(agency, s) for s in seekers}  # every seeker's list, stored
    assert all(lst["items"][0]["posting_id"] == star for lst in plain.values())
    assert all(lst["capacity"] is None for lst in plain.values())

    r = await _put(agency, {"method": "balanced", "relevance_floor": FLOOR, "headroom": 1.0})
    assert r.status_code == 200
    r = await c.post("/v1/capacity-policy:rebalance", headers=admin)
    assert r.status_code == 202, r.text
    job = await _wait_for(c, r.json()["id"], admin)
    assert job["status"] == "succeeded", job
    assert job["result"]["seekers"] == 12 and job["result"]["postings"] == 6
    version = job["result"]["price_version"]
    stored = (await c.get("/v1/capacity-policy", headers=admin)).json()["prices"]
    assert stored["version"] >= version and stored["summary"]["postings"] == 6
    async with pool.acquire() as conn:
        prices = {
            str(r["posting_id"]): r
            for r in await conn.fetch(
                "SELECT posting_id, price, exposure, applications, openings FROM posting_price "
                "WHERE agency_id = $1 AND version = $2",
                UUID(agency.id),
                version,
            )
        }
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_event WHERE agency_id = $1 "
            "AND action = 'capacity_policy.rebalance'",
            UUID(agency.id),
        )
    assert audited == 1
    assert set(prices) == {star, *rivals}
    assert prices[star]["price"] > 0 and prices[star]["price"] > max(
        prices[r]["price"] for r in rivals
    )
    assert all(p["price"] >= 0 for p in prices.values())
    # exposure: each of the 12 stored lists put the star at rank 1
    assert abs(prices[star]["exposure"] - 12.0) < 1e-9

    seeker = seekers[0]
    after = await _matches(agency, seeker)
    assert after["id"] != plain[seeker]["id"]  # prices changed the input: a new list
    assert after["capacity"]["method"] == "balanced"
    assert after["capacity"]["price_version"] == stored["version"]
    assert "candidates" not in after["capacity"]
    lowered = {i["posting_id"]: i for i in after["items"] if i["explanation"]["capacity"]}
    assert star in lowered
    block = lowered[star]["explanation"]["capacity"]
    assert 0 < block["penalty"] <= FLOOR and block["openings"] == 1
    assert any(
        "Shown lower because many job seekers" in n for n in lowered[star]["explanation"]["notes"]
    )
    assert {
        "code": "capacity_lowered",
        "params": {
            "penalty": round(block["penalty"], 4),
            "applications": 0,
            "openings": 1,
        },
    } in lowered[star]["explanation"]["note_codes"]
    # the order is by score minus the stored price (at most the floor): the star, first by
    # score, is shown lower; the items shown below their place by score, and only they, say why
    adjusted = [i["score"] - min(prices[i["posting_id"]]["price"], FLOOR) for i in after["items"]]
    assert all(a >= b - 1e-6 for a, b in itertools.pairwise(adjusted))
    assert after["items"][0]["posting_id"] != star
    by_score = sorted(after["items"], key=lambda i: -i["score"])
    cheapest_price = min(min(prices[i["posting_id"]]["price"], FLOOR) for i in after["items"])
    shown_lower = {
        i["posting_id"]
        for rank, i in enumerate(after["items"])
        if rank > by_score.index(i)
        and min(prices[i["posting_id"]]["price"], FLOOR) > cheapest_price
    }
    assert set(lowered) == shown_lower and after["capacity"]["lowered"] == len(shown_lower)
    # the penalty shown is what the star pays above the cheapest posting in the list
    cheapest = min(min(prices[i["posting_id"]]["price"], FLOOR) for i in after["items"])
    assert abs(block["penalty"] - (min(prices[star]["price"], FLOOR) - cheapest)) < 1e-5
    assert job["result"]["gini_load_after"] < job["result"]["gini_load_before"]
    # balanced: spread prices ran (every seeker here lists the same six postings, so any
    # order gives the same exposures and their Gini cannot fall; tests/matching shows it does)
    assert job["result"]["spread_rounds"] > 0
    assert job["result"]["gini_exposure_after"] <= job["result"]["gini_exposure_before"] + 1e-9
    assert job["result"]["max_price"] <= FLOOR
    # no rank lost more than the floor against the plain list
    before_scores = [i["score"] for i in plain[seeker]["items"]]
    for item, plain_score in zip(after["items"], before_scores, strict=True):
        assert item["score"] >= plain_score - FLOOR - 1e-9
    assert 0 <= after["capacity"]["relevance_given_up"] <= FLOOR

    zh = await _matches(agency, seekers[1], language="zh")
    star_item = next(i for i in zh["items"] if i["posting_id"] == star)
    assert any("排名有所下调" in n for n in star_item["explanation"]["notes"])

    # the new lists kept their raw candidates: the next rebalance reads that demand
    async with pool.acquire() as conn:
        kept = await conn.fetchval(
            "SELECT capacity->'candidates' FROM match_list WHERE id = $1", UUID(after["id"])
        )
    assert kept[0][0] == star and len(kept) == 6


async def test_a_posting_past_its_hard_cap_never_appears(agency: Agency) -> None:
    c, portal, cw = agency.client, agency.auth("portal"), agency.auth("caseworker")
    star, _rivals, seekers = await _market(agency, 4)
    roomy = (
        await c.post("/v1/postings", json={**_rival(9), "openings": 3}, headers=portal)
    ).json()["id"]
    for applicant in seekers[:2]:
        for posting in (star, roomy):
            r = await c.post(
                "/v1/outcomes",
                json={"seeker_id": applicant, "posting_id": posting, "outcome": "applied"},
                headers=cw,
            )
            assert r.status_code == 201, r.text
    before = await _matches(agency, seekers[3])
    assert star in [i["posting_id"] for i in before["items"]]
    r = await _put(agency, {"method": "cap", "max_applications_per_opening": 2})
    assert r.status_code == 200, r.text
    for seeker in seekers:
        body = await _matches(agency, seeker)
        shown = [i["posting_id"] for i in body["items"]]
        assert star not in shown  # 2 applications for its one opening
        assert roomy in shown  # 2 applications for 3 openings: below the cap
        assert body["capacity"]["excluded"] == 1 and body["capacity"]["method"] == "cap"
    # ties go to fewer applications: twin postings score the same; the one applied to is
    # shown after its twin, and one more application makes the list again (not reused)
    twin = {**_rival(7), "title": "Twin warehouse job"}
    twins = [
        (await c.post("/v1/postings", json={**twin, "external_id": x}, headers=portal)).json()["id"]
        for x in ("T-1", "T-2")
    ]
    first = await _matches(agency, seekers[3])
    by_id = {i["posting_id"]: i for i in first["items"]}
    assert by_id[twins[0]]["score"] == by_id[twins[1]]["score"]
    applied_to = twins[0] if by_id[twins[0]]["rank"] < by_id[twins[1]]["rank"] else twins[1]
    r = await c.post(
        "/v1/outcomes",
        json={"seeker_id": seekers[2], "posting_id": applied_to, "outcome": "applied"},
        headers=cw,
    )
    assert r.status_code == 201
    again = await _matches(agency, seekers[3])
    assert again["id"] != first["id"]
    ranks = {i["posting_id"]: i["rank"] for i in again["items"]}
    other = twins[1] if applied_to == twins[0] else twins[0]
    assert ranks[other] < ranks[applied_to]


async def test_exposure_cap_leaves_out_the_most_shown_posting(agency: Agency) -> None:
    c, admin = agency.client, agency.auth("admin")
    star, rivals, seekers = await _market(agency, 4)
    for s in seekers:
        assert (await _matches(agency, s))["items"][0]["posting_id"] == star
    # exposure is read from the newest price set: the star was shown first in 4 lists
    # (4 per opening over the 30-day window: 0.93 a week); a rival at most second (0.59)
    r = await _put(
        agency,
        {
            "method": "cap",
            "max_applications_per_opening": None,
            "max_exposure_per_opening_per_week": 0.8,
        },
    )
    assert r.status_code == 200, r.text
    assert star in [i["posting_id"] for i in (await _matches(agency, seekers[0]))["items"]]
    job = (await c.post("/v1/capacity-policy:rebalance", headers=admin)).json()
    assert (await _wait_for(c, job["id"], admin))["status"] == "succeeded"
    for s in seekers[1:]:
        body = await _matches(agency, s)
        shown = [i["posting_id"] for i in body["items"]]
        assert star not in shown and set(rivals) <= set(shown)
        assert body["capacity"]["excluded"] == 1


async def test_candidate_lists_keep_the_fairness_policy_with_capacity_on(agency: Agency) -> None:
    c, portal = agency.client, agency.auth("portal")
    men = [seeker_body(f"M-{i}", protected={"consent": True, "gender": "male"}) for i in range(14)]
    women = [
        seeker_body(
            f"W-{i}",
            headline="Warehouse helper",
            skills=[{"name": "operate forklift"}],
            experience_years=1,
            protected={"consent": True, "gender": "female"},
        )
        for i in range(6)
    ]
    r = await c.post("/v1/seekers:bulk", json=men + women, headers=portal)
    assert r.json()["created"] == 20
    posting = (await c.post("/v1/postings", json=posting_body(), headers=portal)).json()["id"]
    fair = {"method": "fa_ir", "attributes": ["gender"], "protected_groups": ["female"], "p": 0.5}
    r = await c.put("/v1/fairness-policy", json=fair, headers=agency.auth("admin"))
    assert r.status_code == 200
    assert (await _put(agency, {"method": "balanced", "relevance_floor": 0.5})).status_code == 200
    r = await c.post("/v1/capacity-policy:rebalance", headers=agency.auth("admin"))
    assert (await _wait_for(c, r.json()["id"], agency.auth("admin")))["status"] == "succeeded"
    body = (
        await c.get(
            f"/v1/postings/{posting}/matches",
            params={"limit": 10},
            headers=agency.auth("caseworker"),
        )
    ).json()
    seekers = (
        await c.get("/v1/seekers", params={"limit": 200}, headers=agency.auth("caseworker"))
    ).json()["items"]
    gender = {s["id"]: s["protected"]["gender"] for s in seekers}
    flags = [gender[i["seeker_id"]] == "female" for i in body["items"]]
    table = fair_mtable(10, 0.5, 0.1)
    assert is_fair(flags, 0.5, 0.1, mtable=table)
    assert body["fairness"]["method"] == "fa_ir" and body.get("capacity") is None
