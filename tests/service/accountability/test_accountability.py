"""Accountability: the person behind each action, auditor access, one audit event per request,
the audit hash chain (and its verification by route and CLI), retention."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from service import cli
from service.config import get_settings
from tests.factories import Agency, posting_body, seeker_body

SKILLS = [{"name": "operate forklift"}, {"name": "load cargo"}, {"name": "stock control"}]


async def _list_with_candidates(agency: Agency, n: int = 5, tag: str = "A") -> dict[str, Any]:
    c = agency.client
    posting = posting_body(f"{tag}-P", skills_required=SKILLS)
    pid = (await c.post("/v1/postings", json=posting, headers=agency.auth("portal"))).json()["id"]
    rows = [seeker_body(f"{tag}-S-{i:02d}", skills=SKILLS) for i in range(n)]
    r = await c.post("/v1/seekers:bulk", json=rows, headers=agency.auth("portal"))
    assert r.json()["created"] == n
    r = await c.get(
        f"/v1/postings/{pid}/matches", params={"limit": n}, headers=agency.auth("caseworker")
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _events(agency: Agency, **params: Any) -> list[dict[str, Any]]:
    r = await agency.client.get(
        "/v1/audit-events", params={"limit": 200, **params}, headers=agency.auth("auditor")
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def _verification(agency: Agency) -> dict[str, Any]:
    r = await agency.client.get("/v1/audit-events/verification", headers=agency.auth("auditor"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _as(agency: Agency, role: str, person: str | None) -> dict[str, str]:
    return {**agency.auth(role), **({"Acting-Person": person} if person else {})}


async def test_every_accountable_action_records_the_person(agency: Agency) -> None:
    c = agency.client
    lst = await _list_with_candidates(agency)
    cw = _as(agency, "caseworker", "cw-0042")
    r = await c.post(
        f"/v1/match-lists/{lst['id']}/decisions",
        json={"decisions": [{"rank": 1, "action": "shortlist"}]},
        headers=cw,
    )
    assert r.status_code == 201 and r.json()["items"][0]["acted_by"] == "cw-0042"
    seeker = lst["items"][0]["seeker_id"]
    posting = (await c.get("/v1/postings", headers=agency.auth("portal"))).json()["items"][0]
    r = await c.post(
        "/v1/outcomes",
        json={"seeker_id": seeker, "posting_id": posting["id"], "outcome": "hired"},
        headers=_as(agency, "portal", "portal-user-7"),
    )
    assert r.status_code == 201 and r.json()["acted_by"] == "portal-user-7"
    admin = _as(agency, "admin", "adm-1")
    r = await c.put("/v1/fairness-policy", json={"method": "none"}, headers=admin)
    assert r.status_code == 200 and r.json()["acted_by"] == "adm-1"
    history = (await c.get("/v1/fairness-policy/history", headers=agency.auth("auditor"))).json()
    assert history["items"][0]["acted_by"] == "adm-1"
    r = await c.post("/v1/models/default:activate", headers=admin)
    assert r.status_code == 200 and r.json()["acted_by"] == "adm-1"
    models = (await c.get("/v1/models", headers=agency.auth("auditor"))).json()
    assert models["activations"][0]["acted_by"] == "adm-1"
    r = await c.post("/v1/api-keys", json={"name": "extra", "role": "portal"}, headers=admin)
    assert r.status_code == 201 and r.json()["acted_by"] == "adm-1"
    key_id = r.json()["id"]
    r = await c.delete(f"/v1/api-keys/{key_id}", headers=_as(agency, "admin", "adm-2"))
    assert r.status_code == 204
    keys = (await c.get("/v1/api-keys", headers=admin)).json()["items"]
    revoked = next(k for k in keys if k["id"] == key_id)
    assert (revoked["acted_by"], revoked["revoked_acted_by"]) == ("adm-1", "adm-2")
    # the stored list shows who decided; the audit log names the person on each action
    r = await c.get(f"/v1/match-lists/{lst['id']}", headers=agency.auth("caseworker"))
    assert r.json()["items"][0]["decisions"][0]["acted_by"] == "cw-0042"
    by_action = {e["action"]: e["acted_by"] for e in await _events(agency)}
    assert by_action["decision.shortlist"] == "cw-0042"
    assert by_action["outcome.hired"] == "portal-user-7"
    assert by_action["fairness_policy.update"] == "adm-1"
    assert by_action["model.activate"] == "adm-1"
    assert (by_action["api_key.create"], by_action["api_key.revoke"]) == ("adm-1", "adm-2")
    mine = await _events(agency, acted_by="cw-0042")
    assert [e["action"] for e in mine] == ["decision.shortlist"]
    # and the seeker's export says who decided
    export = (await c.get(f"/v1/seekers/{seeker}/export", headers=cw)).json()
    assert [d["acted_by"] for d in export["decisions"]] == ["cw-0042"]
    assert [o["acted_by"] for o in export["outcomes"]] == ["portal-user-7"]
    assert "cw-0042" in {e["acted_by"] for e in export["audit_trail"]}


async def test_a_bad_acting_person_is_a_422_naming_the_header(agency: Agency) -> None:
    c = agency.client
    for bad in ("x" * 65, "two words", "naïve".encode()):
        r = await c.put(
            "/v1/fairness-policy",
            json={"method": "none"},
            headers={**agency.auth("admin"), "Acting-Person": bad},
        )
        assert r.status_code == 422, (bad, r.text)
        assert "Acting-Person" in r.text
    assert (await c.get("/v1/fairness-policy", headers=agency.auth("admin"))).json()["version"] == 0


async def test_the_agency_can_require_the_acting_person(agency: Agency) -> None:
    c = agency.client
    lst = await _list_with_candidates(agency, n=3)
    r = await c.put(
        "/v1/agency-settings",
        json={"require_acting_person": True},
        headers=_as(agency, "admin", "adm-9"),
    )
    assert r.status_code == 200 and r.json()["require_acting_person"] is True
    decision = {"decisions": [{"rank": 1, "action": "contact"}]}
    url = f"/v1/match-lists/{lst['id']}/decisions"
    r = await c.post(url, json=decision, headers=agency.auth("caseworker"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "header.Acting-Person"
    r = await c.post(url, json=decision, headers=_as(agency, "caseworker", "cw-1"))
    assert r.status_code == 201
    # reads need no person; changing the settings back needs one too
    r = await c.get(url.rsplit("/", 1)[0], headers=agency.auth("caseworker"))
    assert r.status_code == 200
    r = await c.put("/v1/agency-settings", json={}, headers=agency.auth("admin"))
    assert r.status_code == 422 and "Acting-Person" in r.text
    [change] = await _events(agency, action="agency_settings.update")
    assert change["acted_by"] == "adm-9"
    assert change["details"]["changes"]["require_acting_person"] == {"from": False, "to": True}


async def test_auditors_oversee_without_reading_profiles_unless_granted(agency: Agency) -> None:
    c, auditor = agency.client, agency.auth("auditor")
    lst = await _list_with_candidates(agency, n=3)
    r = await c.post(
        f"/v1/match-lists/{lst['id']}/decisions",
        json={
            "decisions": [
                {"rank": 2, "action": "reject", "reason_code": "distance", "note": "No car"},
                {"rank": 1, "action": "shortlist"},
            ]
        },
        headers=agency.auth("caseworker"),
    )
    assert r.status_code == 201
    # one audit event for the request, naming both seekers, without the note
    [batch] = await _events(agency, action="decision.batch")
    assert set(batch["subject_ids"]) == {lst["items"][0]["seeker_id"], lst["items"][1]["seeker_id"]}
    assert [d["action"] for d in batch["details"]["decisions"]] == ["reject", "shortlist"]
    assert "No car" not in str(batch)
    for url in ("/v1/models", "/v1/match-lists", "/v1/fairness-policy/history"):
        assert (await c.get(url, headers=auditor)).status_code == 200, url
    # stored lists and their decisions, seekers by id only: no external id, headline or note
    r = await c.get(f"/v1/match-lists/{lst['id']}", headers=auditor)
    assert r.status_code == 200
    item = r.json()["items"][1]
    assert item["decisions"][0]["reason_code"] == "distance"
    assert (item["external_id"], item["title"], item["decisions"][0]["note"]) == ("", None, None)
    assert "group_figures" in r.json()["fairness"]  # no per-group counts of a small pool
    summaries = (await c.get("/v1/match-lists", headers=auditor)).json()["items"]
    assert summaries and all(s["seeker_external_id"] is None for s in summaries)
    # read-only: no decisions, no settings, no what-would-change, no profiles
    r = await c.post(
        f"/v1/match-lists/{lst['id']}/decisions",
        json={"decisions": [{"rank": 1, "action": "contact"}]},
        headers=auditor,
    )
    assert r.status_code == 403
    assert (await c.put("/v1/agency-settings", json={}, headers=auditor)).status_code == 403
    whatif = f"/v1/match-lists/{lst['id']}/items/1/what-would-change"
    assert (await c.get(whatif, headers=auditor)).status_code == 403
    seeker = lst["items"][0]["seeker_id"]
    assert (await c.get(f"/v1/seekers/{seeker}", headers=auditor)).status_code == 403
    assert (await c.get("/v1/seekers", headers=auditor)).status_code == 403

    r = await c.put(
        "/v1/agency-settings",
        json={"auditor_reads_profiles": True},
        headers=_as(agency, "admin", "dpo-1"),
    )
    assert r.status_code == 200
    r = await c.get(f"/v1/seekers/{seeker}", headers=auditor)
    assert r.status_code == 200 and r.json()["protected"] is None  # never protected data
    item = (await c.get(f"/v1/match-lists/{lst['id']}", headers=auditor)).json()["items"][1]
    assert item["external_id"].startswith("A-S-")
    assert item["decisions"][0]["note"] == "No car"
    assert (await c.get("/v1/seekers", headers=auditor)).status_code == 200
    [grant] = await _events(agency, action="agency_settings.update")
    assert grant["details"]["changes"] == {"auditor_reads_profiles": {"from": False, "to": True}}
    assert grant["acted_by"] == "dpo-1"


async def test_a_paging_pass_writes_one_audit_event_per_page(
    agency: Agency, pool: asyncpg.Pool
) -> None:
    c = agency.client
    r = await c.post("/v1/seekers", json=seeker_body("SEED"), headers=agency.auth("portal"))
    seed_id = r.json()["id"]
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO seeker (id, agency_id, external_id, profile, lat, lon, max_distance_km) "
            "SELECT gen_random_uuid(), agency_id, 'P-' || g, profile, lat, lon, max_distance_km "
            "FROM seeker, generate_series(1, 2999) g WHERE id = $1",
            UUID(seed_id),
        )
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        r = await c.get("/v1/seekers", params=params, headers=agency.auth("caseworker"))
        assert r.status_code == 200
        seen += [s["id"] for s in r.json()["items"]]
        pages += 1
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert len(set(seen)) == 3000 and pages == 15
    reads = await _events(agency, action="seeker.read")
    assert len(reads) == pages
    assert sorted(i for e in reads for i in e["subject_ids"]) == sorted(seen)
    assert all(e["details"]["count"] == len(e["subject_ids"]) for e in reads)
    # protected data were read for the one seeker who has them, and say so
    assert [e["details"]["protected_read"] for e in reads if e["details"]["protected_read"]] == [
        [seed_id]
    ]
    # a subject search finds the page that read a seeker, by the index
    [found] = [e for e in await _events(agency, subject=seen[1234]) if e["action"] == "seeker.read"]
    assert seen[1234] in found["subject_ids"]
    async with pool.acquire() as conn:
        await conn.execute("SET enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT seq FROM audit_event WHERE subject_ids @> ARRAY[$1::uuid]",
                UUID(seen[1234]),
            )
        )
        await conn.execute("RESET enable_seqscan")
    assert "audit_event_subjects_idx" in plan


async def _tamper(pool: asyncpg.Pool, sql: str, *args: Any) -> None:
    """Change the audit table by hand, past its triggers (as a database superuser could)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(sql, *args)


async def _cli_verify(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    agency: Agency,
) -> tuple[int, dict[str, Any]]:
    """`jobmatch audit verify --agency NAME` on the test database: exit code, last line."""
    monkeypatch.setenv("JOBMATCH_DATABASE_URL", database_url)
    get_settings.cache_clear()  # the CLI reads its settings from the environment
    code = 0
    try:
        await asyncio.to_thread(cli.main, ["audit", "verify", "--agency", agency.name])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    finally:
        get_settings.cache_clear()
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


async def test_the_chain_verifies_and_a_row_altered_in_sql_is_found(
    agency: Agency,
    other_agency: Agency,
    pool: asyncpg.Pool,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _list_with_candidates(agency, n=4)
    await _list_with_candidates(other_agency, n=2)
    for s in (await agency.client.get("/v1/seekers", headers=agency.auth("portal"))).json()[
        "items"
    ]:
        await agency.client.get(f"/v1/seekers/{s['id']}", headers=agency.auth("caseworker"))
    ok = await _verification(agency)
    assert ok["verified"] and ok["first_break"] is None and ok["events_checked"] >= 6
    code, out = await _cli_verify(monkeypatch, capsys, database_url, agency)
    assert code == 0 and out["verified"] and out["events_checked"] == ok["events_checked"]

    events = await _events(agency)
    victim = events[3]
    await _tamper(
        pool,
        "UPDATE audit_event SET actor_role = 'admin' WHERE id = $1",
        UUID(victim["id"]),
    )
    broken = await _verification(agency)
    assert not broken["verified"]
    assert broken["first_break"]["seq"] == victim["seq"]
    assert "content" in broken["first_break"]["reason"]
    code, out = await _cli_verify(monkeypatch, capsys, database_url, agency)
    assert code == 1 and out["first_break"]["seq"] == victim["seq"]
    # the other agency's chain is its own, and intact
    assert (await _verification(other_agency))["verified"]

    # put it back: verified again; then remove an event from the middle
    await _tamper(
        pool,
        "UPDATE audit_event SET actor_role = $2 WHERE id = $1",
        UUID(victim["id"]),
        victim["actor_role"],
    )
    assert (await _verification(agency))["verified"]
    await _tamper(pool, "DELETE FROM audit_event WHERE id = $1", UUID(events[5]["id"]))
    broken = await _verification(agency)
    assert broken["first_break"]["seq"] == events[6]["seq"]


async def test_retention_removes_old_records_keeps_new_and_the_chain_verifies(
    agency: Agency, pool: asyncpg.Pool
) -> None:
    c, admin = agency.client, _as(agency, "admin", "adm-r")
    agency_id = UUID(agency.id)
    async with pool.acquire() as conn:  # events of long ago, written then (3 batches' worth)
        await conn.execute(
            "INSERT INTO audit_event (id, agency_id, at, action) SELECT gen_random_uuid(), $1, "
            "now() - interval '900 days' + make_interval(secs => g), 'old.event' "
            "FROM generate_series(1, 1200) g",
            agency_id,
        )
    old = await _list_with_candidates(agency, n=3)
    new = await _list_with_candidates(agency, n=3, tag="B")
    for lst in (old, new):
        await c.post(
            f"/v1/match-lists/{lst['id']}/decisions",
            json={"decisions": [{"rank": 1, "action": "shortlist"}]},
            headers=agency.auth("caseworker"),
        )
    async with pool.acquire() as conn:  # the first list and its decision are two years old
        await conn.execute(
            "UPDATE match_list SET created_at = now() - interval '800 days' WHERE id = $1",
            UUID(old["id"]),
        )
        await conn.execute(
            "UPDATE decision SET created_at = now() - interval '800 days' WHERE match_list_id = $1",
            UUID(old["id"]),
        )
    r = await c.put(
        "/v1/agency-settings", json={"retention": {"audit_events_days": 30}}, headers=admin
    )
    assert r.status_code == 422  # logs are kept at least six months
    r = await c.get("/v1/agency-settings", headers=agency.auth("auditor"))
    assert r.json()["retention"]["audit_events_days"] == 400
    before = await _verification(agency)
    assert before["verified"]

    r = await c.post("/v1/retention:apply", headers=admin)
    assert r.status_code == 202, r.text
    for _ in range(600):
        job = (await c.get(f"/v1/jobs/{r.json()['id']}", headers=admin)).json()
        if job["status"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "succeeded", job
    assert job["result"]["deleted"]["match_lists"] == 1
    assert job["result"]["deleted"]["audit_events"] == 1200

    cw = agency.auth("caseworker")
    assert (await c.get(f"/v1/match-lists/{old['id']}", headers=cw)).status_code == 404
    kept = await c.get(f"/v1/match-lists/{new['id']}", headers=cw)
    assert kept.status_code == 200 and kept.json()["items"][0]["decisions"]
    events = await _events(agency)
    assert "old.event" not in {e["action"] for e in events}
    assert {"match_list.create", "decision.shortlist", "retention.apply"} <= {
        e["action"] for e in events
    }
    after = await _verification(agency)
    assert after["verified"], after
    assert after["anchor_seq"] > 0 and after["events_checked"] == len(events)
    [applied] = [e for e in events if e["action"] == "retention.apply"]
    assert applied["acted_by"] == "adm-r" and applied["details"]["audit_anchor_seq"] > 0


async def test_audit_events_still_refuse_update_and_plain_delete(
    agency: Agency, pool: asyncpg.Pool
) -> None:
    await agency.client.post("/v1/seekers", json=seeker_body(), headers=agency.auth("portal"))
    async with pool.acquire() as conn:
        for sql in ("UPDATE audit_event SET action = 'x'", "DELETE FROM audit_event"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(sql)
