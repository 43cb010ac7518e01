"""The stop switch of automated ranking (human oversight): for a posting or the whole agency,
new lists are made in the non-personalised order; lists made before keep theirs; audited."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from tests.factories import Agency, posting_body, seeker_body

REQUIRED = [{"name": "operate forklift"}, {"name": "load cargo"}, {"name": "stock control"}]


async def _market(agency: Agency) -> tuple[list[str], list[str]]:
    """Two postings and five seekers at growing distances from them."""
    c, h = agency.client, agency.auth("portal")
    pids = [
        (await c.post("/v1/postings", json=posting_body(f"P-{i}"), headers=h)).json()["id"]
        for i in range(2)
    ]
    rows = [
        seeker_body(
            f"S-{i}",
            # the nearest seeker has the fewest skills: score order and distance order differ
            skills=REQUIRED[: 3 - min(i, 2)] if i else [{"name": "bake bread"}],
            location={"lat": 51.95 + 0.03 * i, "lon": 4.45, "city": "Rotterdam"},
            max_distance_km=60,
        )
        for i in range(5)
    ]
    r = await c.post("/v1/seekers:bulk", json=rows, headers=h)
    assert r.json()["created"] == 5, r.text
    listed = (await c.get("/v1/seekers", params={"limit": 50}, headers=h)).json()["items"]
    return pids, [s["id"] for s in listed]


async def _candidates(agency: Agency, pid: str) -> dict[str, Any]:
    r = await agency.client.get(
        f"/v1/postings/{pid}/matches", params={"limit": 5}, headers=agency.auth("caseworker")
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _switch(agency: Agency, body: dict[str, Any], role: str = "admin") -> Any:
    return await agency.client.put("/v1/automated-ranking", json=body, headers=agency.auth(role))


async def test_stopping_a_posting_orders_its_candidates_by_distance_only(agency: Agency) -> None:
    (pid, other), _ = await _market(agency)
    before = await _candidates(agency, pid)
    assert before["personalised"] is True

    r = await _switch(agency, {"posting_id": pid, "stopped": True})
    assert r.status_code == 200, r.text
    assert r.json()["agency_stopped"] is False
    assert [p["posting_id"] for p in r.json()["stopped_postings"]] == [pid]

    stopped = await _candidates(agency, pid)
    assert stopped["id"] != before["id"]
    assert stopped["personalised"] is False
    assert stopped["model_version"] == "non-personalised-v1"
    assert stopped["embedding_model"] == "none"
    distances = [i["explanation"]["distance_km"] for i in stopped["items"]]
    assert distances == sorted(distances), distances
    assert all(set(i["factors"]) == {"distance"} for i in stopped["items"])
    # the other posting and the list made before are untouched
    assert (await _candidates(agency, other))["personalised"] is True
    r = await agency.client.get(
        f"/v1/match-lists/{before['id']}", headers=agency.auth("caseworker")
    )
    assert r.json()["personalised"] is True

    # every role that oversees can see the switch; only an admin can turn it
    for role in ("caseworker", "auditor", "admin"):
        r = await agency.client.get("/v1/automated-ranking", headers=agency.auth(role))
        assert r.status_code == 200 and len(r.json()["stopped_postings"]) == 1
    assert (
        await _switch(agency, {"posting_id": pid, "stopped": False}, "caseworker")
    ).status_code == 403

    r = await _switch(agency, {"posting_id": pid, "stopped": False})
    assert r.json()["stopped_postings"] == []
    assert (await _candidates(agency, pid))["personalised"] is True

    events = await agency.client.get(
        "/v1/audit-events", params={"subject": pid}, headers=agency.auth("auditor")
    )
    actions = [e["action"] for e in events.json()["items"]]
    assert actions.count("ranking.stop") == 1 and actions.count("ranking.resume") == 1


async def test_stopping_the_agency_stops_both_kinds_of_list(agency: Agency) -> None:
    (pid, _), seekers = await _market(agency)
    r = await _switch(agency, {"stopped": True})
    assert r.status_code == 200 and r.json()["agency_stopped"] is True
    assert r.json()["agency_stopped_at"] is not None
    # stopping twice changes nothing and is audited once
    assert (await _switch(agency, {"stopped": True, "posting_id": None})).status_code == 200

    assert (await _candidates(agency, pid))["personalised"] is False
    r = await agency.client.get(
        f"/v1/seekers/{seekers[0]}/matches", headers=agency.auth("caseworker")
    )
    assert r.status_code == 200, r.text
    assert r.json()["personalised"] is False
    assert r.json()["model_version"] == "non-personalised-v1"

    await _switch(agency, {"stopped": False})
    r = await agency.client.get(
        f"/v1/seekers/{seekers[0]}/matches", headers=agency.auth("caseworker")
    )
    assert r.json()["personalised"] is True
    events = await agency.client.get(
        "/v1/audit-events", params={"action": "ranking.stop"}, headers=agency.auth("auditor")
    )
    assert len(events.json()["items"]) == 1


async def test_a_posting_of_another_agency_or_none_is_404(
    agency: Agency, other_agency: Agency
) -> None:
    (pid, _), _ = await _market(agency)
    for posting_id in (pid, str(uuid4()), "not-an-id"):
        r = await _switch(other_agency, {"posting_id": posting_id, "stopped": True})
        assert r.status_code == 404, r.text
    r = await agency.client.get("/v1/automated-ranking", headers=agency.auth("admin"))
    assert r.json()["stopped_postings"] == []
    r = await _switch(agency, {"stopped": "yes"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.stopped"
