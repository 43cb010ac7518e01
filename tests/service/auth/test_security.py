"""Security: the permission table on every route, tenant isolation on every route with an id,
API keys, property-level rules (unknown and server-set fields), and what portals and logs see."""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from service.auth.permissions import PERMISSIONS, Role
from tests.factories import Agency, posting_body, seeker_body
from tests.service.routes import PUBLIC_PATHS, Endpoint, endpoints, protected_endpoints

ROLES = [r.value for r in Role]
README = __import__("pathlib").Path(__file__).resolve().parents[3] / "README.md"


# --------------------------------------------------------------------------- permission table


def test_every_route_is_public_or_names_a_permission(app: Any) -> None:
    used = set()
    for e in endpoints(app):
        if e.path in PUBLIC_PATHS:
            assert e.operation is None, f"{e} is public but checks {e.operation}"
            continue
        assert e.path.startswith("/v1/"), f"{e} is neither public nor under /v1"
        assert e.operation is not None, f"{e} has no authorize(operation) dependency"
        assert e.operation in PERMISSIONS, e
        used.add(e.operation)
    assert used == set(PERMISSIONS), f"operations no route checks: {set(PERMISSIONS) - used}"


def test_readme_role_table_is_the_permission_table() -> None:
    """The "Roles" table in the README lists each operation of PERMISSIONS with its roles."""
    text = README.read_text()
    section = text[text.index("### Roles") :]
    rows = re.findall(r"^\| `([a-z_]+:[a-z_]+)` \|[^|]*\|(.*)\|\s*$", section, re.M)
    documented = {}
    for op, cells in rows:
        marks = [c.strip() for c in cells.split("|")]
        documented[op] = frozenset(Role(r) for r, m in zip(ROLES, marks, strict=True) if m == "✓")
    assert documented == PERMISSIONS


def _fill(e: Endpoint) -> str:
    return e.url({p: "1" if p == "rank" else str(uuid4()) for p in e.params})


async def _call(
    client: httpx.AsyncClient, e: Endpoint, url: str, headers: dict[str, str], body: Any = None
) -> httpx.Response:
    if e.method in ("POST", "PUT", "PATCH"):
        return await client.request(
            e.method, url, json={} if body is None else body, headers=headers
        )
    return await client.request(e.method, url, headers=headers)


async def test_every_route_enforces_the_permission_table(app: Any, agency: Agency) -> None:
    """401 without a key or with a wrong one, 403 for a role the table excludes, and neither
    for a role it allows — on every route, read from the app so none can be forgotten."""
    c = agency.client
    checked = 0
    for e in protected_endpoints(app):
        assert e.operation is not None
        url = _fill(e)
        r = await _call(c, e, url, {})
        assert r.status_code == 401, (str(e), r.status_code, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.headers["content-type"].startswith("application/problem+json")
        r = await _call(c, e, url, {"Authorization": "Bearer jm_00000000_unknown"})
        assert r.status_code == 401, (str(e), r.status_code)
        for role in ROLES:
            r = await _call(c, e, url, agency.auth(role))
            if Role(role) in PERMISSIONS[e.operation]:
                assert r.status_code not in (401, 403), (str(e), role, r.status_code, r.text)
            else:
                assert r.status_code == 403, (str(e), role, r.status_code, r.text)
                assert r.json()["title"] == "Forbidden"
            checked += 1
    assert checked >= 4 * 30


# --------------------------------------------------------------------------- API keys


async def _audit(agency: Agency, **params: Any) -> list[dict[str, Any]]:
    r = await agency.client.get(
        "/v1/audit-events", params={"limit": 200, **params}, headers=agency.auth("auditor")
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_api_keys_create_list_revoke(agency: Agency) -> None:
    c, admin = agency.client, agency.auth("admin")
    r = await c.post(
        "/v1/api-keys", json={"name": "portal backend", "role": "portal"}, headers=admin
    )
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["secret"]
    assert secret.startswith(f"jm_{created['prefix']}_") and created["role"] == "portal"
    assert r.headers["cache-control"] == "no-store"
    new = {"Authorization": f"Bearer {secret}"}
    assert (await c.get("/v1/postings", headers=new)).status_code == 200
    assert (await c.get("/v1/api-keys", headers=new)).status_code == 403  # a portal key

    # listed (all five keys), never with a secret
    r = await c.get("/v1/api-keys", headers=admin)
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == len(ROLES) + 1
    assert secret not in r.text and all("secret" not in k for k in items)
    assert sum(k["id"] == created["id"] for k in items) == 1

    # revoked keys stop at once; revoking again changes nothing
    assert (await c.delete(f"/v1/api-keys/{created['id']}", headers=admin)).status_code == 204
    r = await c.get("/v1/postings", headers=new)
    assert r.status_code == 401 and r.json()["detail"] == "Unknown or revoked API key."
    assert (await c.delete(f"/v1/api-keys/{created['id']}", headers=admin)).status_code == 204
    listed = {k["id"]: k for k in (await c.get("/v1/api-keys", headers=admin)).json()["items"]}
    assert listed[created["id"]]["revoked_at"] is not None

    events = [e for e in await _audit(agency) if e["action"].startswith("api_key.")]
    assert [(e["action"], e["subject_id"]) for e in events] == [
        ("api_key.create", created["id"]),
        ("api_key.revoke", created["id"]),
    ]
    assert all(e["actor_role"] == "admin" for e in events)
    assert secret not in str(events) and "portal backend" not in str(events)

    # input rules
    for bad in (
        {"name": "x", "role": "root"},
        {"name": "", "role": "admin"},
        {"name": "x", "role": "admin", "secret": "jm_mine"},
        {"name": "x", "role": "admin", "agency_id": str(uuid4())},
    ):
        assert (await c.post("/v1/api-keys", json=bad, headers=admin)).status_code == 422, bad


async def test_the_last_admin_key_cannot_be_revoked(agency: Agency) -> None:
    c, admin = agency.client, agency.auth("admin")
    keys = (await c.get("/v1/api-keys", headers=admin)).json()["items"]
    first = next(k for k in keys if k["role"] == "admin")
    r = await c.delete(f"/v1/api-keys/{first['id']}", headers=admin)
    assert r.status_code == 409 and "last active admin key" in r.json()["detail"]
    r = await c.post("/v1/api-keys", json={"name": "second admin", "role": "admin"}, headers=admin)
    second = {"Authorization": f"Bearer {r.json()['secret']}"}
    # an admin may revoke its own key once another admin key exists
    assert (await c.delete(f"/v1/api-keys/{first['id']}", headers=admin)).status_code == 204
    assert (await c.get("/v1/api-keys", headers=admin)).status_code == 401
    r = await c.delete(f"/v1/api-keys/{r.json()['id']}", headers=second)
    assert r.status_code == 409


# --------------------------------------------------------------------------- tenant isolation


async def _table_state(pool: asyncpg.Pool, agency_ids: list[UUID]) -> dict[str, str]:
    """A digest of every row of these agencies in every table (match items via their lists)."""
    async with pool.acquire() as conn:
        tables = [
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name = 'agency_id' ORDER BY 1"
            )
        ]
        digest = {}
        for t in tables:
            digest[t] = await conn.fetchval(
                f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                f"FROM {t} x WHERE agency_id = ANY($1::uuid[])",
                agency_ids,
            )
        digest["match_item"] = await conn.fetchval(
            "SELECT md5(coalesce(string_agg(i::text, '|' ORDER BY i::text), '')) FROM match_item i "
            "JOIN match_list l ON l.id = i.match_list_id WHERE l.agency_id = ANY($1::uuid[])",
            agency_ids,
        )
        digest["agency"] = await conn.fetchval(
            "SELECT md5(string_agg(a::text, '|' ORDER BY a::text)) FROM agency a "
            "WHERE id = ANY($1::uuid[])",
            agency_ids,
        )
    return digest


async def _victim(agency: Agency, pool: asyncpg.Pool) -> dict[str, str]:
    """An agency with one of everything that has an id: seeker, posting, lists of both kinds,
    a decision, an outcome, an import job, an extra API key, a stored model."""
    c, portal, cw = agency.client, agency.auth("portal"), agency.auth("caseworker")
    tag = uuid4().hex[:8]
    seeker = (await c.post("/v1/seekers", json=seeker_body(f"V-S-{tag}"), headers=portal)).json()[
        "id"
    ]
    posting = (
        await c.post("/v1/postings", json=posting_body(f"V-P-{tag}"), headers=portal)
    ).json()["id"]
    job = (
        await c.post("/v1/seekers:bulk", json=[seeker_body(f"V-B-{tag}")], headers=portal)
    ).json()["id"]
    candidates = (await c.get(f"/v1/postings/{posting}/matches", headers=cw)).json()
    jobs_list = (await c.get(f"/v1/seekers/{seeker}/matches", headers=portal)).json()
    assert candidates["items"] and jobs_list["items"]
    r = await c.post(
        f"/v1/match-lists/{candidates['id']}/decisions",
        json={"decisions": [{"rank": 1, "action": "shortlist"}]},
        headers=cw,
    )
    assert r.status_code == 201
    r = await c.post(
        "/v1/outcomes",
        json={"seeker_id": seeker, "posting_id": posting, "outcome": "applied"},
        headers=portal,
    )
    assert r.status_code == 201
    key = (
        await c.post(
            "/v1/api-keys", json={"name": "extra", "role": "auditor"}, headers=agency.auth("admin")
        )
    ).json()["id"]
    model = str(uuid4())
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO scoring_model (id, agency_id, version, kind, artifact, report) "
            "VALUES ($1, $2, $3, 'linear', '{}'::jsonb, '{}'::jsonb)",
            UUID(model),
            UUID(agency.id),
            f"isolation-{tag}",
        )
    return {
        "seeker": seeker,
        "posting": posting,
        "job": job,
        "list": candidates["id"],
        "seeker_list": jobs_list["id"],
        "key": key,
        "model": model,
        "external_seeker": f"V-S-{tag}",
        "external_posting": f"V-P-{tag}",
    }


def _ids_for(e: Endpoint, v: dict[str, str]) -> list[dict[str, str]]:
    """The victim's ids to put in this route's path (every list id for list routes)."""
    kind = "seeker" if e.path.startswith("/v1/seekers") else "posting"
    by_name = {
        "seeker_id": [v["seeker"]],
        "posting_id": [v["posting"]],
        "record_id": [v[kind]],
        "job_id": [v["job"]],
        "list_id": [v["list"], v["seeker_list"]],
        "key_id": [v["key"]],
        "model_id": [v["model"]],
        "rank": ["1"],
    }
    missing = [p for p in e.params if p not in by_name]
    assert not missing, f"{e}: add the victim's id for {missing} to this test"
    combos: list[dict[str, str]] = [{}]
    for p in e.params:
        combos = [{**c, p: value} for c in combos for value in by_name[p]]
    return combos


def _valid_body(e: Endpoint) -> Any:
    """A body that passes validation, so that a 404 can only come from the tenant check."""
    if e.path.startswith("/v1/seekers/{record_id}"):
        return seeker_body("X-1") if e.method == "PUT" else {"headline": "changed"}
    if e.path.startswith("/v1/postings/{record_id}"):
        return posting_body("X-1") if e.method == "PUT" else {"title": "changed"}
    if e.path.endswith("/decisions"):
        return {"decisions": [{"rank": 1, "action": "shortlist"}]}
    return {}


async def test_another_agency_gets_404_on_every_route_with_an_id_and_changes_nothing(
    app: Any, pool: asyncpg.Pool, agency: Agency, other_agency: Agency
) -> None:
    victim = await _victim(agency, pool)
    before = await _table_state(pool, [UUID(agency.id), UUID(other_agency.id)])
    c = other_agency.client
    calls = 0
    for e in protected_endpoints(app):
        if not e.params:
            continue
        assert e.operation is not None
        for values in _ids_for(e, victim):
            for role in ROLES:
                if Role(role) not in PERMISSIONS[e.operation]:
                    continue
                r = await _call(c, e, e.url(values), other_agency.auth(role), _valid_body(e))
                assert r.status_code == 404, (str(e), values, role, r.status_code, r.text)
                assert r.json()["title"] == "Not found"
                calls += 1
    assert calls >= 25
    assert await _table_state(pool, [UUID(agency.id), UUID(other_agency.id)]) == before
    # and the victim still sees all of it
    for path, role in (
        (f"/v1/seekers/{victim['seeker']}", "portal"),
        (f"/v1/postings/{victim['posting']}", "portal"),
        (f"/v1/match-lists/{victim['list']}", "caseworker"),
        (f"/v1/jobs/{victim['job']}", "portal"),
    ):
        assert (await agency.client.get(path, headers=agency.auth(role))).status_code == 200


async def test_lists_and_searches_never_show_another_agencys_rows(
    app: Any, pool: asyncpg.Pool, agency: Agency, other_agency: Agency
) -> None:
    victim = await _victim(agency, pool)
    # the other agency has data of its own, with the same external ids
    c, h = other_agency.client, other_agency.auth("portal")
    await c.post("/v1/seekers", json=seeker_body(victim["external_seeker"]), headers=h)
    await c.post("/v1/postings", json=posting_body(victim["external_posting"]), headers=h)
    needles = [v for k, v in victim.items() if not k.startswith("external")]
    filters = {
        "/v1/match-lists": [
            {"seeker_id": victim["seeker"]},
            {"posting_id": victim["posting"]},
        ],
        "/v1/audit-events": [{"subject": victim["seeker"]}, {"actor": victim["key"]}],
        "/v1/seekers": [{"external_id": victim["external_seeker"]}],
        "/v1/postings": [{"external_id": victim["external_posting"]}],
    }
    seen = 0
    for e in protected_endpoints(app):
        if e.method != "GET" or e.params:
            continue
        assert e.operation is not None
        for role in ROLES:
            if Role(role) not in PERMISSIONS[e.operation]:
                continue
            for params in [{"limit": 200}, *filters.get(e.path, [])]:
                r = await c.get(e.path, params=params, headers=other_agency.auth(role))
                if r.status_code == 422 and "limit" in r.text:  # routes without paging
                    r = await c.get(e.path, headers=other_agency.auth(role))
                assert r.status_code == 200, (str(e), role, r.text)
                for needle in needles:
                    assert needle not in r.text, (str(e), role, params, needle)
                seen += 1
    assert seen >= 15


# --------------------------------------------------------------------------- property level

# A body for every write operation that takes a JSON object: a new one fails here until added.
VALID_BODIES: dict[str, Any] = {
    "create_seeker": lambda v: seeker_body(f"PL-{uuid4().hex[:6]}"),
    "replace_seeker": lambda v: seeker_body(f"PL-{uuid4().hex[:6]}"),
    "patch_seeker": lambda v: {"headline": "x"},
    "create_posting": lambda v: posting_body(f"PL-{uuid4().hex[:6]}"),
    "replace_posting": lambda v: posting_body(f"PL-{uuid4().hex[:6]}"),
    "patch_posting": lambda v: {"title": "x"},
    "record_decisions": lambda v: {"decisions": [{"rank": 1, "action": "contact"}]},
    "record_outcome": lambda v: {
        "seeker_id": v["seeker"],
        "posting_id": v["posting"],
        "outcome": "applied",
    },
    "put_fairness_policy": lambda v: {"method": "none"},
    "put_capacity_policy": lambda v: {"method": "none"},
    "create_api_key": lambda v: {"name": "k", "role": "auditor"},
    "activate_model": lambda v: {"force": False},
    "put_agency_settings": lambda v: {"require_acting_person": False},
    "set_automated_ranking": lambda v: {"stopped": False},
}
# Arrays of records: an unknown field is reported for that record (and it is not stored).
BULK = {"bulk_import_seekers", "bulk_import_postings"}
SERVER_SET = ("id", "agency_id", "created_at", "updated_at", "version", "created_by")


def _json_schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _closed(spec: dict[str, Any], schema: dict[str, Any], seen: set[str]) -> list[str]:
    """Object schemas reachable from `schema` that accept unknown properties."""
    ref = schema.get("$ref")
    if ref:
        if ref in seen:
            return []
        seen.add(ref)
    s = _json_schema(spec, schema)
    open_ = []
    if (
        s.get("type") == "object"
        and s.get("properties")
        and s.get("additionalProperties") is not False
    ):
        open_.append(s.get("title", "?"))
    subs = list((s.get("properties") or {}).values())
    if isinstance(s.get("items"), dict):
        subs.append(s["items"])
    if isinstance(s.get("additionalProperties"), dict):
        subs.append(s["additionalProperties"])
    for sub in subs:
        open_ += _closed(spec, sub, seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in s.get(key, []):
            open_ += _closed(spec, sub, seen)
    return open_


def test_every_write_body_schema_forbids_unknown_fields(app: Any) -> None:
    spec = app.openapi()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            content = (op.get("requestBody") or {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if not schema:
                continue
            resolved = _json_schema(spec, schema)
            if resolved.get("type") == "object" and not resolved.get("properties"):
                # free-form (merge patch): checked against the full model after merging
                assert op["operationId"].startswith("patch_"), (method, path)
                continue
            if resolved.get("type") == "array":
                assert op["operationId"] in BULK, (method, path)
                continue
            assert op["operationId"] in VALID_BODIES, f"add {op['operationId']} to VALID_BODIES"
            assert _closed(spec, schema, set()) == [], (method, path)


async def test_unknown_and_server_set_fields_are_refused_on_every_write(
    app: Any, pool: asyncpg.Pool, agency: Agency
) -> None:
    victim = await _victim(agency, pool)
    spec = app.openapi()
    c = agency.client
    checked = set()
    for e in protected_endpoints(app):
        if e.method not in ("POST", "PUT", "PATCH"):
            continue
        op = spec["paths"][e.path][e.method.lower()]
        if "requestBody" not in op:
            continue
        op_id = op["operationId"]
        assert e.operation is not None
        role = next(r for r in ROLES if Role(r) in PERMISSIONS[e.operation])
        url = e.url(_ids_for(e, victim)[0])
        if op_id in BULK:
            kind = "seeker" if "seekers" in e.path else "posting"
            row = (seeker_body if kind == "seeker" else posting_body)(f"U-{uuid4().hex[:6]}")
            r = await c.post(url, json=[{**row, "surprise": 1}], headers=agency.auth(role))
            assert r.status_code == 200 and r.json()["created"] == 0, r.text
            assert r.json()["errors"][0]["errors"][0]["field"] == "surprise"
            checked.add(op_id)
            continue
        body = VALID_BODIES[op_id](victim)
        extras = [{"surprise": 1}]
        if op_id.endswith(("_seeker", "_posting")):
            extras += [{f: "2020-01-01T00:00:00Z"} for f in SERVER_SET]
        for extra in extras:
            r = await c.request(e.method, url, json={**body, **extra}, headers=agency.auth(role))
            assert r.status_code == 422, (op_id, extra, r.status_code, r.text)
            field = next(iter(extra))
            assert any(err["field"] == f"body.{field}" for err in r.json()["errors"]), r.text
        checked.add(op_id)
    assert checked == set(VALID_BODIES) | BULK
    # nothing was changed by any of them
    r = await c.get(f"/v1/seekers/{victim['seeker']}", headers=agency.auth("portal"))
    assert r.headers["etag"] == '"1"'


# --------------------------------------------------------------------------- portals and logs

PROTECTED_VALUES = {"non_binary", "55-64"}  # values used by no other field
PROTECTED_KEYS = {"protected", "gender", "age_band", "disability", "migrant_background"}
FREE_TEXT = [
    "Quokkaherder with a zeppelin licence",  # headline
    "Spent eleven winters restoring xylophones in Tromsø",  # summary
    "phlogiston titration",  # a skill
    "Brought a snorkel to the interview",  # a decision note
]


def _keys(value: Any) -> set[str]:
    """Keys that carry a value anywhere in a JSON document (`"protected": null` carries none)."""
    if isinstance(value, dict):
        return {k for k, v in value.items() if v is not None} | {
            k for v in value.values() for k in _keys(v)
        }
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.mark.slow
async def test_protected_data_never_reaches_a_portal_nor_any_log(
    agency: Agency, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level
    c = agency.client
    portal, cw, admin = agency.auth("portal"), agency.auth("caseworker"), agency.auth("admin")
    protected = {
        "consent": True,
        "gender": "non_binary",
        "age_band": "55-64",
        "disability": True,
        "migrant_background": True,
    }
    seen_by_portal: list[Any] = []

    async def as_portal(method: str, url: str, **kw: Any) -> httpx.Response:
        r = await c.request(method, url, headers=portal, **kw)
        assert r.status_code < 400, (method, url, r.text)
        if r.content:
            seen_by_portal.append(r.json())
        return r

    secret_seeker = seeker_body(
        "LEAK-1",
        headline=FREE_TEXT[0],
        summary=FREE_TEXT[1],
        skills=[{"name": FREE_TEXT[2]}, {"name": "operate forklift"}],
        protected=protected,
    )
    sid = (await as_portal("POST", "/v1/seekers", json=secret_seeker)).json()["id"]
    rows = [
        seeker_body(f"LEAK-B{i}", protected={**protected, "disability": i % 2 == 0})
        for i in range(6)
    ]
    await as_portal("POST", "/v1/seekers:bulk", json=rows)
    pid = (await as_portal("POST", "/v1/postings", json=posting_body("LEAK-P"))).json()["id"]
    await as_portal("GET", f"/v1/seekers/{sid}")
    await as_portal("GET", "/v1/seekers", params={"limit": 200})
    await as_portal("PATCH", f"/v1/seekers/{sid}", json={"experience_years": 6})
    await as_portal("PUT", f"/v1/seekers/{sid}", json=secret_seeker)
    await as_portal("GET", f"/v1/seekers/{sid}/matches")
    policy = {"method": "det_const_sort", "attributes": ["gender"], "target_source": "pool"}
    assert (await c.put("/v1/fairness-policy", json=policy, headers=admin)).status_code == 200
    await as_portal("GET", f"/v1/postings/{pid}/matches", params={"limit": 1})
    await as_portal("GET", f"/v1/postings/{pid}/matches")
    await as_portal(
        "POST", "/v1/outcomes", json={"seeker_id": sid, "posting_id": pid, "outcome": "applied"}
    )
    # the caseworker's side of the flow (their answers may hold protected data; logs may not)
    lst = (await c.get(f"/v1/postings/{pid}/matches", headers=cw)).json()
    rank = next(i["rank"] for i in lst["items"] if i["seeker_id"] == sid)
    decision = {"rank": rank, "action": "reject", "reason_code": "other", "note": FREE_TEXT[3]}
    r = await c.post(
        f"/v1/match-lists/{lst['id']}/decisions", json={"decisions": [decision]}, headers=cw
    )
    assert r.status_code == 201
    assert (await c.get(f"/v1/match-lists/{lst['id']}", headers=cw)).status_code == 200
    r = await c.get(f"/v1/match-lists/{lst['id']}/items/{rank}/what-would-change", headers=cw)
    assert r.status_code == 200
    r = await c.get(f"/v1/seekers/{sid}/export", headers=cw)
    assert r.status_code == 200 and r.json()["seeker"]["protected"]["gender"] == "non_binary"
    assert (await c.get("/v1/reports/fairness", headers=agency.auth("auditor"))).status_code == 200
    assert (await c.get("/v1/audit-events", headers=agency.auth("auditor"))).status_code == 200
    # errors on the way must not leak either
    bad = {**secret_seeker, "external_id": "LEAK-2", "education_level": 99}
    assert (await c.post("/v1/seekers", json=bad, headers=portal)).status_code == 422
    assert (await c.delete(f"/v1/seekers/{sid}", headers=portal)).status_code == 204

    assert len(seen_by_portal) == 11
    for body in seen_by_portal:
        assert not _keys(body) & PROTECTED_KEYS, body
        text = json.dumps(body)
        assert not [v for v in PROTECTED_VALUES if v in text], text

    lines = []
    for rec in caplog.records:
        lines.append(rec.getMessage())
        lines.append(str(rec.__dict__))  # extras, args, exception text
    assert len(lines) > 20
    log_text = "\n".join(lines)
    for needle in [*PROTECTED_VALUES, *FREE_TEXT, "LEAK-1"]:
        assert needle not in log_text, needle


async def test_query_parameters_must_be_known_and_single(agency: Agency) -> None:
    c, h = agency.client, agency.auth("portal")
    assert (await c.get("/v1/postings", params={"limit": 5}, headers=h)).status_code == 200
    r = await c.get("/v1/postings", params={"limt": 5}, headers=h)
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "query.limt", "message": "unknown parameter"}]
    r = await c.get("/v1/postings", params=[("limit", "1"), ("limit", "2")], headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == "given more than once"
    # checked after authentication: no key is still 401
    assert (await c.get("/v1/postings", params={"limt": 5})).status_code == 401


async def test_bodies_keep_to_json_types_and_storable_text(agency: Agency) -> None:
    c, h = agency.client, agency.auth("portal")
    for field, value in (
        ("experience_years", "5"),  # a string is not a number
        ("personalised_ranking", 0),  # nor 0 a boolean
        ("available_from", 0),  # nor a Unix time a date
        ("headline", "nul \u0000 inside"),  # PostgreSQL text cannot hold NUL
        ("external_id", "   "),  # only whitespace: stripped, empty
    ):
        r = await c.post("/v1/seekers", json={**seeker_body("T-1"), field: value}, headers=h)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["errors"][0]["field"] == f"body.{field}", r.text
    # in an upload, such a record is reported by position, and the report can be stored
    rows = [seeker_body("T-2"), {**seeker_body("T-\u0000"), "\u0000": 1}]
    r = await c.post("/v1/seekers:bulk", json=rows, headers=h)
    assert r.status_code == 200 and (r.json()["created"], r.json()["failed"]) == (1, 1)
    assert r.json()["errors"][0]["external_id"] is None
    r = await c.get("/v1/seekers", params={"external_id": "T-\u0000"}, headers=h)
    assert r.status_code == 422
    # bytes that are not JSON (not even UTF-8) are a 422 on every route
    for path in ("/v1/seekers", "/v1/outcomes"):
        r = await c.post(
            path, content=b"\xff\xfe{", headers={**h, "Content-Type": "application/json"}
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body", r.text


async def test_unsupported_methods_name_every_allowed_one(agency: Agency) -> None:
    c, h = agency.client, agency.auth("portal")
    for path, allowed in (
        ("/v1/seekers", "GET, POST"),
        (f"/v1/seekers/{uuid4()}", "DELETE, GET, PATCH, PUT"),
        (f"/v1/jobs/{uuid4()}:cancel", "POST"),
    ):
        r = await c.request("OPTIONS", path, headers=h)
        assert r.status_code == 405 and r.headers["allow"] == allowed, (path, r.headers)
        assert r.headers["content-type"].startswith("application/problem+json")
