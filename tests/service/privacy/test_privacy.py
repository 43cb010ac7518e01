"""Data subject rights: the export holds everything stored about a seeker; erasure leaves
nothing of them in any table but the audit log's ids."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import asyncpg

from tests.factories import Agency, posting_body, seeker_body

PROTECTED = {"consent": True, "gender": "female", "age_band": "25-34", "disability": False}


async def _seeker_with_history(agency: Agency) -> dict[str, Any]:
    """A seeker (created with an Idempotency-Key) with lists of both kinds, a decision with a
    note, an outcome, and a later import that reported their external id as a duplicate."""
    c, portal, cw = agency.client, agency.auth("portal"), agency.auth("caseworker")
    external, tag = f"ERASE-ME-{uuid4().hex}", uuid4().hex
    body = seeker_body(external, headline="Crane operator", protected=PROTECTED)
    r = await c.post("/v1/seekers", json=body, headers={**cw, "Idempotency-Key": f"create-{tag}"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    others = [seeker_body(f"KEEP-{tag}-{i}", protected=None) for i in range(3)]
    r = await c.post("/v1/seekers:bulk", json=[*others, body], headers=portal)
    assert r.json()["created"] == 3 and r.json()["errors"][0]["external_id"] == external
    job = r.json()["id"]
    pid = (await c.post("/v1/postings", json=posting_body(f"P-{tag}"), headers=portal)).json()["id"]
    own = (await c.get(f"/v1/seekers/{sid}/matches", headers=portal)).json()
    candidates = (await c.get(f"/v1/postings/{pid}/matches", headers=cw)).json()
    rank = next(i["rank"] for i in candidates["items"] if i["seeker_id"] == sid)
    r = await c.post(
        f"/v1/match-lists/{candidates['id']}/decisions",
        json={"decisions": [{"rank": rank, "action": "contact", "note": "Call on Monday"}]},
        headers=cw,
    )
    assert r.status_code == 201
    r = await c.post(
        "/v1/outcomes",
        json={"seeker_id": sid, "posting_id": pid, "outcome": "interviewed"},
        headers=cw,
    )
    assert r.status_code == 201
    return {
        "id": sid,
        "external_id": external,
        "posting": pid,
        "own_list": own["id"],
        "candidate_list": candidates["id"],
        "rank": rank,
        "job": job,
        "body": body,
        "tag": tag,
    }


async def test_export_holds_everything_stored_about_a_seeker(
    agency: Agency, other_agency: Agency, embedder: Any
) -> None:
    s = await _seeker_with_history(agency)
    c = agency.client
    r = await c.get(f"/v1/seekers/{s['id']}/export", headers=agency.auth("admin"))
    assert r.status_code == 200, r.text
    export = r.json()
    seeker = export["seeker"]
    assert seeker["id"] == s["id"] and seeker["external_id"] == s["external_id"]
    assert seeker["headline"] == "Crane operator" and [k["name"] for k in seeker["skills"]] == [
        k["name"] for k in s["body"]["skills"]
    ]
    assert {k: v for k, v in seeker["protected"].items() if v is not None} == PROTECTED
    assert export["embeddings"] == [
        {"model": embedder.name, "created_at": export["embeddings"][0]["created_at"]}
    ]
    items = export["match_items"]
    assert {i["match_list_id"] for i in items} == {s["own_list"], s["candidate_list"]}
    in_own = [i for i in items if i["match_list_id"] == s["own_list"]]
    assert in_own and all(i["kind"] == "postings_for_seeker" for i in in_own)
    candidate = next(i for i in items if i["match_list_id"] == s["candidate_list"])
    assert candidate["rank"] == s["rank"] and candidate["external_id"] == s["external_id"]
    assert candidate["factors"] and candidate["explanation"]["notes"]
    assert [(d["action"], d["note"]) for d in export["decisions"]] == [
        ("contact", "Call on Monday")
    ]
    assert [o["outcome"] for o in export["outcomes"]] == ["interviewed"]
    actions = [a["action"] for a in export["audit_trail"]]
    assert actions[0] == "seeker.create" and "decision.contact" in actions
    assert "outcome.interviewed" in actions

    # the export is audited; only caseworker and admin keys may export; other agencies get 404
    r = await c.get(
        "/v1/audit-events",
        params={"subject": s["id"], "action": "seeker.export"},
        headers=agency.auth("auditor"),
    )
    assert [e["actor_role"] for e in r.json()["items"]] == ["admin"]
    assert (
        await c.get(f"/v1/seekers/{s['id']}/export", headers=agency.auth("caseworker"))
    ).status_code == 200
    for role in ("portal", "auditor"):
        r = await c.get(f"/v1/seekers/{s['id']}/export", headers=agency.auth(role))
        assert r.status_code == 403
    r = await c.get(f"/v1/seekers/{s['id']}/export", headers=other_agency.auth("admin"))
    assert r.status_code == 404


async def _find_everywhere(pool: asyncpg.Pool, needles: list[str]) -> dict[str, int]:
    """Rows of every table in the public schema holding any needle in any uuid, text, json(b)
    or array column: {"table.column": rows}."""
    found: dict[str, int] = {}
    async with pool.acquire() as conn:
        columns = await conn.fetch(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
            "AND (c.data_type IN ('uuid', 'text', 'character varying', 'character', 'json', "
            "'jsonb', 'ARRAY') ) ORDER BY 1, 2"
        )
        assert len(columns) > 40
        tables = {r["table_name"] for r in columns}
        assert {"seeker", "match_item", "decision", "outcome", "job", "idempotency_key"} <= tables
        for r in columns:
            t, col = r["table_name"], r["column_name"]
            n = await conn.fetchval(
                f'SELECT count(*) FROM "{t}" x WHERE EXISTS '
                f'(SELECT 1 FROM unnest($1::text[]) n WHERE strpos(x."{col}"::text, n) > 0)',
                needles,
            )
            if n:
                found[f"{t}.{col}"] = n
    return found


async def test_erasure_leaves_nothing_but_audit_ids(agency: Agency, pool: asyncpg.Pool) -> None:
    s = await _seeker_with_history(agency)
    c, cw = agency.client, agency.auth("caseworker")
    needles = [s["id"], s["external_id"]]
    before = await _find_everywhere(pool, needles)
    assert {"seeker.id", "seeker_protected.seeker_id", "seeker_embedding.seeker_id"} <= set(before)
    assert {"match_item.seeker_id", "decision.seeker_id", "outcome.seeker_id"} <= set(before)
    assert {"job.result", "idempotency_key.response", "audit_event.subject_id"} <= set(before)

    assert (await c.delete(f"/v1/seekers/{s['id']}", headers=cw)).status_code == 204

    after = await _find_everywhere(pool, needles)
    assert set(after) <= {
        "audit_event.subject_id",
        "audit_event.subject_ids",
        "audit_event.details",
    }, after
    # ... and those audit rows hold ids only: no profile text, no protected values
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT action, details::text AS details FROM audit_event WHERE subject_id::text = $1 "
            "OR strpos(details::text, $1) > 0",
            s["id"],
        )
    assert rows and any(r["action"] == "seeker.erase" for r in rows)
    text = str([dict(r) for r in rows])
    for value in ("Crane operator", "female", "25-34", "Call on Monday", s["external_id"]):
        assert value not in text
    # the rest of the candidate list stays, without them
    r = await c.get(f"/v1/match-lists/{s['candidate_list']}", headers=cw)
    assert r.status_code == 200 and s["id"] not in r.text
    assert (await c.get(f"/v1/match-lists/{s['own_list']}", headers=cw)).status_code == 404
    assert (await c.get(f"/v1/seekers/{s['id']}/export", headers=cw)).status_code == 404
    # the import report keeps the position of the erased record, not its id
    job = (await c.get(f"/v1/jobs/{s['job']}", headers=agency.auth("portal"))).json()
    assert job["errors"] == [
        {"index": 3, "external_id": None, "errors": [{"field": "", "message": "erased"}]}
    ]
    # a retry of the create with its Idempotency-Key does not bring the seeker back
    r = await c.post(
        "/v1/seekers",
        json=s["body"],
        headers={**cw, "Idempotency-Key": f"create-{s['tag']}"},
    )
    assert r.status_code == 410 and r.headers["content-type"] == "application/problem+json"
    assert (
        await c.get("/v1/seekers", params={"external_id": s["external_id"]}, headers=cw)
    ).json()["items"] == []
