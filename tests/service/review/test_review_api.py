"""Caseworker review: stored lists, decisions, outcomes, audit log, explanations, opt-out."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
import pytest

from tests.factories import Agency, posting_body, seeker_body

REQUIRED = [{"name": "operate forklift"}, {"name": "load cargo"}, {"name": "stock control"}]


async def _posting_with_candidates(agency: Agency, strong: int = 12) -> tuple[str, list[str]]:
    """A posting and `strong` candidates with every required skill but little experience."""
    c, h = agency.client, agency.auth("portal")
    posting = posting_body(skills_required=REQUIRED, experience_years_min=5)
    pid = (await c.post("/v1/postings", json=posting, headers=h)).json()["id"]
    rows = [
        seeker_body(f"S-{i:02d}", skills=REQUIRED, experience_years=2, protected=None)
        for i in range(strong)
    ]
    r = await c.post("/v1/seekers:bulk", json=rows, headers=h)
    assert r.json()["created"] == strong
    listed = (await c.get("/v1/seekers", params={"limit": 200}, headers=h)).json()["items"]
    return pid, [s["id"] for s in listed]


async def _events(agency: Agency, **params: Any) -> list[dict[str, Any]]:
    r = await agency.client.get(
        "/v1/audit-events", params={"limit": 200, **params}, headers=agency.auth("auditor")
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_a_caseworkers_day(agency: Agency, pool: Any) -> None:
    c = agency.client
    cw = agency.auth("caseworker")
    pid, _ = await _posting_with_candidates(agency, strong=6)
    produced = await c.get(f"/v1/postings/{pid}/matches", params={"limit": 6}, headers=cw)
    assert produced.status_code == 200
    lst = produced.json()
    lid = lst["id"]
    for item in lst["items"]:
        assert abs(sum(item["factors"].values()) - item["score"]) < 1e-6

    r = await c.get(f"/v1/match-lists/{lid}", headers=cw)
    assert r.status_code == 200
    assert [i["score"] for i in r.json()["items"]] == [i["score"] for i in lst["items"]]

    decisions = [
        {"rank": 1, "action": "shortlist"},
        {"rank": 2, "action": "shortlist"},
        {"rank": 3, "action": "reject", "reason_code": "distance", "note": "No car"},
        {"rank": 5, "action": "override", "new_rank": 1, "note": "Knows the warehouse"},
    ]
    for d in decisions:
        r = await c.post(f"/v1/match-lists/{lid}/decisions", json={"decisions": [d]}, headers=cw)
        assert r.status_code == 201, r.text
    hired = lst["items"][4]["seeker_id"]
    r = await c.post(
        "/v1/outcomes",
        json={"seeker_id": hired, "posting_id": pid, "outcome": "hired"},
        headers=cw,
    )
    assert r.status_code == 201

    review = (await c.get(f"/v1/match-lists/{lid}", headers=cw)).json()
    by_rank = {i["rank"]: i for i in review["items"]}
    assert by_rank[1]["decisions"][0]["action"] == "shortlist"
    assert by_rank[3]["decisions"][0]["reason_code"] == "distance"
    assert by_rank[5]["final_rank"] == 1 and by_rank[1]["final_rank"] == 2
    assert sorted(i["final_rank"] for i in review["items"]) == list(range(1, 7))

    # the audit log shows each step in order, by the caseworker's key
    r = await c.get("/v1/audit-events", params={"subject": lid}, headers=agency.auth("auditor"))
    assert [e["action"] for e in r.json()["items"]][:2] == ["match_list.create", "match_list.read"]
    events = [
        e
        for e in await _events(agency)
        if e["action"].split(".")[0] in ("match_list", "decision", "outcome")
    ]
    assert [e["action"] for e in events] == [
        "match_list.create",
        "match_list.read",
        "decision.shortlist",
        "decision.shortlist",
        "decision.reject",
        "decision.override",
        "outcome.hired",
        "match_list.read",
    ]
    roles = {e["actor_role"] for e in events}
    assert roles == {"caseworker"}
    create = events[0]
    assert create["details"]["model_version"] == "default-v3"
    assert create["details"]["input_hash"] and create["route"] == "GET /v1/postings/{id}/matches"
    # no free text of decisions or profiles in audit rows
    assert "No car" not in str(events) and "Knows the warehouse" not in str(events)

    # a portal key can do none of the caseworker's steps
    portal = agency.auth("portal")
    assert (await c.get(f"/v1/match-lists/{lid}", headers=portal)).status_code == 403
    assert (await c.get("/v1/match-lists", headers=portal)).status_code == 403
    r = await c.post(
        f"/v1/match-lists/{lid}/decisions", json={"decisions": decisions[:1]}, headers=portal
    )
    assert r.status_code == 403
    r = await c.get(f"/v1/match-lists/{lid}/items/1/what-would-change", headers=portal)
    assert r.status_code == 403


async def test_decisions_are_append_only_and_validated(agency: Agency) -> None:
    c, cw = agency.client, agency.auth("caseworker")
    pid, _ = await _posting_with_candidates(agency, strong=3)
    lid = (await c.get(f"/v1/postings/{pid}/matches", headers=cw)).json()["id"]
    url = f"/v1/match-lists/{lid}/decisions"
    await c.post(url, json={"decisions": [{"rank": 1, "action": "shortlist"}]}, headers=cw)
    await c.post(
        url,
        json={"decisions": [{"rank": 1, "action": "reject", "reason_code": "availability"}]},
        headers=cw,
    )
    item = (await c.get(f"/v1/match-lists/{lid}", headers=cw)).json()["items"][0]
    assert [d["action"] for d in item["decisions"]] == ["reject", "shortlist"]  # newest first
    bad = [
        {"rank": 1, "action": "reject"},  # no reason
        {"rank": 1, "action": "override", "new_rank": 2},  # no note
        {"rank": 1, "action": "shortlist", "new_rank": 2},
        {"rank": 1, "action": "reject", "reason_code": "because"},
        {"rank": 1, "action": "shortlist", "reason_code": "distance"},  # a reject's reason
        {"rank": 1, "action": "contact", "reason_code": "other"},
    ]
    for d in bad:
        r = await c.post(url, json={"decisions": [d]}, headers=cw)
        assert r.status_code == 422, d
        assert r.json()["errors"][0]["field"].startswith("body.decisions.0"), r.text
    r = await c.post(url, json={"decisions": [{"rank": 99, "action": "contact"}]}, headers=cw)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.decisions.0.rank"
    # all or nothing: one bad rank stores none of the batch
    batch = [{"rank": 2, "action": "contact"}, {"rank": 50, "action": "contact"}]
    assert (await c.post(url, json={"decisions": batch}, headers=cw)).status_code == 422
    items = (await c.get(f"/v1/match-lists/{lid}", headers=cw)).json()["items"]
    assert items[1]["decisions"] == []


async def test_stored_list_reads_the_same_after_profiles_change(agency: Agency) -> None:
    c, cw = agency.client, agency.auth("caseworker")
    sid = (await c.post("/v1/seekers", json=seeker_body(), headers=cw)).json()["id"]
    await c.post("/v1/postings", json=posting_body(), headers=agency.auth("portal"))
    first = (await c.get(f"/v1/seekers/{sid}/matches", headers=cw)).json()
    pid = first["items"][0]["posting_id"]
    await c.patch(
        f"/v1/postings/{pid}", json={"title": "Renamed job"}, headers=agency.auth("portal")
    )
    await c.patch(f"/v1/seekers/{sid}", json={"skills": [{"name": "cook"}]}, headers=cw)
    again = (await c.get(f"/v1/match-lists/{first['id']}", headers=cw)).json()
    for key in ("model_version", "fairness", "radius_km", "created_at"):
        assert again[key] == first[key]
    strip = ("decisions", "final_rank")
    assert [{k: v for k, v in i.items() if k not in strip} for i in again["items"]] == [
        {k: v for k, v in i.items() if k not in strip} for i in first["items"]
    ]
    assert again["items"][0]["title"] == "Forklift driver"


async def test_list_filters(agency: Agency) -> None:
    c, cw = agency.client, agency.auth("caseworker")
    pid, seekers = await _posting_with_candidates(agency, strong=2)
    by_posting = (await c.get(f"/v1/postings/{pid}/matches", headers=cw)).json()["id"]
    by_seeker = (await c.get(f"/v1/seekers/{seekers[0]}/matches", headers=cw)).json()["id"]
    r = await c.get("/v1/match-lists", params={"posting_id": pid}, headers=cw)
    assert [x["id"] for x in r.json()["items"]] == [by_posting]
    r = await c.get("/v1/match-lists", params={"seeker_id": seekers[0]}, headers=cw)
    assert [x["id"] for x in r.json()["items"]] == [by_seeker]
    await c.post(
        f"/v1/match-lists/{by_posting}/decisions",
        json={"decisions": [{"rank": 1, "action": "contact"}]},
        headers=cw,
    )
    r = await c.get("/v1/match-lists", params={"reviewed": "false"}, headers=cw)
    assert [x["id"] for x in r.json()["items"]] == [by_seeker]
    r = await c.get("/v1/match-lists", params={"limit": 1}, headers=cw)
    page2 = await c.get(
        "/v1/match-lists", params={"limit": 1, "cursor": r.json()["next_cursor"]}, headers=cw
    )
    assert {r.json()["items"][0]["id"], page2.json()["items"][0]["id"]} == {by_posting, by_seeker}


async def test_audit_table_refuses_update_and_delete(agency: Agency, pool: Any) -> None:
    r = await agency.client.post("/v1/seekers", json=seeker_body(), headers=agency.auth("portal"))
    mine = "SELECT action FROM audit_event WHERE agency_id = $1 AND subject_id = $2"
    async with pool.acquire() as conn:
        before = await conn.fetch(mine, UUID(agency.id), UUID(r.json()["id"]))
        assert [e["action"] for e in before] == ["seeker.create"]
        for sql in (
            "UPDATE audit_event SET action = 'x'",
            "DELETE FROM audit_event",
            "TRUNCATE audit_event",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(sql)
        assert await conn.fetch(mine, UUID(agency.id), UUID(r.json()["id"])) == before


async def test_reads_of_seekers_and_protected_data_are_audited(agency: Agency) -> None:
    c = agency.client
    sid = (await c.post("/v1/seekers", json=seeker_body(), headers=agency.auth("portal"))).json()[
        "id"
    ]
    await c.get(f"/v1/seekers/{sid}", headers=agency.auth("portal"))
    await c.get(f"/v1/seekers/{sid}", headers=agency.auth("caseworker"))
    events = await _events(agency, subject=sid)
    assert [(e["action"], e["actor_role"]) for e in events] == [
        ("seeker.create", "portal"),
        ("seeker.read", "portal"),
        ("seeker.protected.read", "caseworker"),  # one event: the read included protected data
    ]
    assert "female" not in str(events) and "Forklift" not in str(events)
    r = await c.get("/v1/audit-events", headers=agency.auth("caseworker"))
    assert r.status_code == 403


async def test_what_would_change_moves_the_seeker_into_the_top_10(agency: Agency) -> None:
    c, cw = agency.client, agency.auth("caseworker")
    pid, _ = await _posting_with_candidates(agency, strong=12)
    # experienced, but lacks one required skill: ranks below the twelve others
    outsider = seeker_body("S-out", skills=REQUIRED[:2], experience_years=8, protected=None)
    oid = (await c.post("/v1/seekers", json=outsider, headers=cw)).json()["id"]
    lst = (await c.get(f"/v1/postings/{pid}/matches", params={"limit": 20}, headers=cw)).json()
    rank = next(i["rank"] for i in lst["items"] if i["seeker_id"] == oid)
    assert rank > 10
    r = await c.get(f"/v1/match-lists/{lst['id']}/items/{rank}/what-would-change", headers=cw)
    assert r.status_code == 200, r.text
    advice = r.json()
    best = advice["best"]
    assert best is not None and best["change"] == {"type": "add_skill", "value": "stock control"}
    assert best["rank"] <= 10

    # apply the suggestion to the profile: the seeker really lands where promised
    seeker = (await c.get(f"/v1/seekers/{oid}", headers=cw)).json()
    skills = [*seeker["skills"], {"name": best["change"]["value"]}]
    await c.patch(f"/v1/seekers/{oid}", json={"skills": skills}, headers=cw)
    again = (await c.get(f"/v1/postings/{pid}/matches", params={"limit": 20}, headers=cw)).json()
    new = next(i for i in again["items"] if i["seeker_id"] == oid)
    assert new["rank"] == best["rank"]
    assert new["score"] == pytest.approx(best["score"], abs=1e-5)


async def test_what_would_change_for_a_seekers_list_is_verified(agency: Agency) -> None:
    c, cw = agency.client, agency.auth("caseworker")
    # 25 jobs nearby want a skill the seeker lacks; the seeker wants part-time work only
    for i in range(25):
        body = posting_body(
            f"J-{i}", skills_required=[{"name": "operate forklift"}, {"name": "drive lorry"}]
        )
        await c.post("/v1/postings", json=body, headers=agency.auth("portal"))
    sid = (
        await c.post("/v1/seekers", json=seeker_body(employment_types=["PART_TIME"]), headers=cw)
    ).json()["id"]
    lst = (await c.get(f"/v1/seekers/{sid}/matches", params={"limit": 20}, headers=cw)).json()
    r = await c.get(f"/v1/match-lists/{lst['id']}/items/1/what-would-change", headers=cw)
    assert r.status_code == 200, r.text
    kinds = {s["change"]["type"] for s in r.json()["suggestions"]}
    assert {"add_skill", "accept_employment_type", "widen_radius"} <= kinds
    for s in r.json()["suggestions"]:
        assert s["new_postings_in_top"] >= 0


async def test_what_would_change_reads_the_skills_of_ads_that_state_none(agency: Agency) -> None:
    """Real ads are free text: their skills are the ones their text mentions (a 500 before)."""
    c, cw = agency.client, agency.auth("caseworker")
    text = "You will operate forklift trucks in our warehouse and load cargo onto lorries."
    for i in range(3):
        body = posting_body(f"AD-{i}", skills_required=[], skills_preferred=[], description=text)
        assert (await c.post("/v1/postings", json=body, headers=agency.auth("portal"))).is_success
    seeker = seeker_body("S-AD", skills=[], headline="Warehouse worker", protected=None)
    seeker["summary"] = "I picked and packed orders."
    sid = (await c.post("/v1/seekers", json=seeker, headers=cw)).json()["id"]

    lst = (await c.get(f"/v1/seekers/{sid}/matches", params={"limit": 20}, headers=cw)).json()
    r = await c.get(f"/v1/match-lists/{lst['id']}/items/1/what-would-change", headers=cw)
    assert r.status_code == 200, r.text
    added = {
        s["change"]["value"] for s in r.json()["suggestions"] if s["change"]["type"] == "add_skill"
    }
    assert "load cargo" in added, r.json()

    pid = next(i["posting_id"] for i in lst["items"] if i["external_id"] == "AD-0")
    lst = (await c.get(f"/v1/postings/{pid}/matches", params={"limit": 20}, headers=cw)).json()
    rank = next(i["rank"] for i in lst["items"] if i["seeker_id"] == sid)
    r = await c.get(f"/v1/match-lists/{lst['id']}/items/{rank}/what-would-change", headers=cw)
    assert r.status_code == 200, r.text
    advice = r.json()
    assert {"type": "add_skill", "value": "load cargo"} in [
        s["change"] for s in advice["suggestions"]
    ]
    # every suggestion, re-scored, raises the score (none that changes nothing)
    assert all(s["score"] > advice["current"]["score"] for s in advice["suggestions"])


async def test_opted_out_seeker_gets_a_non_personalised_list(
    agency: Agency, pool: Any, embedder: Any
) -> None:
    from matching.text import seeker_text
    from service.records.convert import seeker_profile

    c, h = agency.client, agency.auth("portal")
    body = seeker_body(personalised_ranking=False, summary="Private story about my health")
    sid = (await c.post("/v1/seekers", json=body, headers=h)).json()["id"]
    await c.post("/v1/postings", json=posting_body("near"), headers=h)
    far = posting_body("far", job_location={"lat": 51.99, "lon": 4.60})
    await c.post("/v1/postings", json=far, headers=h)
    lst = (await c.get(f"/v1/seekers/{sid}/matches", headers=h)).json()
    assert lst["personalised"] is False and lst["model_version"] == "non-personalised-v1"
    assert [i["external_id"] for i in lst["items"]] == ["near", "far"]  # nearest first
    for item in lst["items"]:
        assert set(item["factors"]) == {"distance", "recency"}
        assert abs(sum(item["factors"].values()) - item["score"]) < 1e-9
    # the stored vector was made without their free text
    async with pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT embedding FROM seeker_embedding WHERE seeker_id = $1::uuid", sid
        )
    profile = seeker_profile({k: v for k, v in body.items() if k != "protected"})
    without = embedder.encode([seeker_text(profile, include_free_text=False)])[0]
    assert float(np.dot(stored.to_numpy(), without)) > 0.999


async def test_an_unchanged_request_answers_the_stored_list_again(
    agency: Agency, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16, item 6: six identical requests made six lists and flooded the review queue."""
    c, cw = agency.client, agency.auth("caseworker")
    pid, seekers = await _posting_with_candidates(agency, strong=3)
    # A list made within WRITE_SLACK of a write may not have seen it: never answered again.
    fresh = (await c.get(f"/v1/postings/{pid}/matches", headers=cw)).json()
    assert (await c.get(f"/v1/postings/{pid}/matches", headers=cw)).json()["id"] != fresh["id"]
    await asyncio.sleep(3.1)
    first = (await c.get(f"/v1/postings/{pid}/matches", headers=cw)).json()
    for _ in range(5):
        again = (await c.get(f"/v1/postings/{pid}/matches", headers=cw)).json()
        assert again["id"] == first["id"] and again["items"] == first["items"]
    mine = (await c.get(f"/v1/seekers/{seekers[0]}/matches", headers=cw)).json()
    assert (await c.get(f"/v1/seekers/{seekers[0]}/matches", headers=cw)).json()["id"] == mine["id"]
    queue = (await c.get("/v1/match-lists", params={"reviewed": "false"}, headers=cw)).json()
    assert len(queue["items"]) == 4  # two made right after the writes, then one of each
    by_kind = {s["kind"]: s for s in queue["items"]}
    assert by_kind["seekers_for_posting"]["posting_title"] == "Forklift driver"
    assert by_kind["seekers_for_posting"]["posting_external_id"] == "P-1"
    owner = (await c.get(f"/v1/seekers/{seekers[0]}", headers=cw)).json()["external_id"]
    assert by_kind["postings_for_seeker"]["seeker_external_id"] == owner
    reuses = await _events(agency, action="match_list.reuse")
    assert len(reuses) == 6

    # Another input (limit, language) or a change on the candidate side makes a new list.
    other = (await c.get(f"/v1/postings/{pid}/matches", params={"limit": 2}, headers=cw)).json()
    assert other["id"] != first["id"]
    zh = await c.get(f"/v1/postings/{pid}/matches", headers={**cw, "Accept-Language": "zh"})
    assert zh.json()["id"] not in (first["id"], other["id"])
    await asyncio.sleep(3.1)  # a change long after the list still counts
    await c.post("/v1/seekers", json=seeker_body("S-NEW"), headers=agency.auth("portal"))
    changed = (await c.get(f"/v1/postings/{pid}/matches", headers=cw)).json()
    assert changed["id"] != first["id"]
    assert len(changed["items"]) == len(first["items"]) + 1
    # With the window at 0 every request stores a list.
    monkeypatch.setattr(app.state.jobmatch.settings, "match_list_reuse_seconds", 0.0)
    assert (await c.get(f"/v1/postings/{pid}/matches", headers=cw)).json()["id"] != changed["id"]
