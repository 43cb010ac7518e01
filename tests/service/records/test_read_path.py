"""Reading one seeker or posting: the key is looked up in the record's own query, and the body is
written from the stored profile without validating it again. Both must answer exactly what the
general path (authorize + represent + FastAPI's response model) answers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from seed.generate import generate_postings, generate_seekers
from service.auth.permissions import Principal, Role
from service.kit.ratelimit import RateLimiter
from service.records import repository as records_db
from service.records.repository import Row
from service.records.representation import represent, represent_json
from tests.factories import Agency, FakeClock, posting_body, seeker_body


def _principal(agency: Agency, role: Role) -> Principal:
    return Principal(key_id=uuid4(), agency_id=UUID(agency.id), role=role)


async def _bulk(agency: Agency, kind: str, items: list[dict[str, Any]]) -> None:
    r = await agency.client.post(
        f"/v1/{kind}s:bulk",
        content=b"\n".join(orjson.dumps(i) for i in items),
        headers={**agency.auth("portal"), "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and r.json()["created"] == len(items), r.text


async def test_a_read_answers_the_bytes_of_the_validated_model(agency: Agency, pool: Any) -> None:
    """Generated records of every shape: the answer is byte for byte what FastAPI made of the
    validated `PostingOut` / `SeekerOut` before, with the record's ETag."""
    c = agency.client
    await _bulk(agency, "posting", generate_postings(40, seed=11))
    await _bulk(agency, "seeker", generate_seekers(10, seed=12))
    r = await c.post(
        "/v1/postings",
        json=posting_body("P-odd", experience_years_min=3, description="Tab\there, é, 中文"),
        headers=agency.auth("portal"),
    )
    assert r.status_code == 201
    checked = 0
    for kind, roles in (("posting", ("portal", "caseworker")), ("seeker", ("portal",))):
        listed = await c.get(f"/v1/{kind}s", params={"limit": 200}, headers=agency.auth("portal"))
        for item in listed.json()["items"]:
            async with pool.acquire() as conn:
                row = await records_db.get(
                    conn, kind, agency_id=UUID(agency.id), record_id=UUID(item["id"])
                )
            assert row is not None
            for role in roles:
                r = await c.get(f"/v1/{kind}s/{item['id']}", headers=agency.auth(role))
                assert r.status_code == 200, r.text
                assert r.headers["content-type"] == "application/json"
                assert r.headers["etag"] == f'"{row.version}"'
                expected = represent(
                    kind, row, protected=None, principal=_principal(agency, Role(role))
                ).model_dump_json(by_alias=True)
                assert r.content == expected.encode(), (kind, item["id"])
                checked += 1
    assert checked == 2 * 41 + 10


async def test_a_caseworker_reads_protected_data_and_the_read_is_audited(agency: Agency) -> None:
    c = agency.client
    sid = (await c.post("/v1/seekers", json=seeker_body(), headers=agency.auth("portal"))).json()[
        "id"
    ]
    r = await c.get(f"/v1/seekers/{sid}", headers=agency.auth("caseworker"))
    assert r.status_code == 200
    assert r.json()["protected"] == {
        "consent": True,
        "gender": "female",
        "age_band": "35-44",
        "disability": None,
        "migrant_background": None,
    }
    r = await c.get(f"/v1/seekers/{sid}", headers=agency.auth("portal"))
    assert r.status_code == 200 and r.json()["protected"] is None
    events = await c.get(
        "/v1/audit-events", params={"subject": sid}, headers=agency.auth("auditor")
    )
    actions = [e["action"] for e in events.json()["items"]]
    # one event per read: the caseworker's included protected data, the portal's did not
    assert actions.count("seeker.read") == 1 and actions.count("seeker.protected.read") == 1


@pytest.mark.parametrize("kind", ["posting", "seeker"])
async def test_a_read_checks_the_key_like_every_route(
    kind: str, app: Any, agency: Agency, other_agency: Agency
) -> None:
    """401 (no key, unknown key, revoked key), then 429, then 403, then 422 for unknown query
    parameters, then 404 (malformed, missing, another agency's): in that order."""
    c = agency.client
    body = posting_body() if kind == "posting" else seeker_body()
    rid = (await c.post(f"/v1/{kind}s", json=body, headers=agency.auth("portal"))).json()["id"]
    url = f"/v1/{kind}s/{rid}"

    for headers in ({}, {"Authorization": "Bearer jm_00000000_unknown"}):
        for path in (url, f"/v1/{kind}s/not-a-uuid", f"{url}?limt=1"):
            r = await c.get(path, headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
            assert r.headers["content-type"] == "application/problem+json"
    assert (await c.get(url, headers=agency.auth("auditor"))).status_code == 403
    r = await c.get(f"/v1/{kind}s/not-a-uuid", headers=agency.auth("admin"))
    assert r.status_code == 403  # the role is checked before the id
    r = await c.get(f"{url}?limt=1", headers=agency.auth("portal"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.limt"
    for path in (f"/v1/{kind}s/not-a-uuid", f"/v1/{kind}s/{uuid4()}"):
        r = await c.get(path, headers=agency.auth("portal"))
        assert r.status_code == 404 and r.json()["title"] == "Not found"
    r = await c.get(url, headers=other_agency.auth("portal"))
    assert r.status_code == 404 and r.json()["detail"] == f"No {kind} with this id in your agency."

    # revoked: stops at once
    admin = agency.auth("admin")
    created = (
        await c.post("/v1/api-keys", json={"name": "reader", "role": "portal"}, headers=admin)
    ).json()
    key = {"Authorization": f"Bearer {created['secret']}"}
    assert (await c.get(url, headers=key)).status_code == 200
    assert (await c.delete(f"/v1/api-keys/{created['id']}", headers=admin)).status_code == 204
    r = await c.get(url, headers=key)
    assert r.status_code == 401 and r.json()["detail"] == "Unknown or revoked API key."

    # the key's rate limit, before its role
    state = app.state.jobmatch
    original = state.rate_limiter
    state.rate_limiter = RateLimiter(per_minute=30, burst=1, clock=FakeClock())
    try:
        assert (await c.get(url, headers=agency.auth("auditor"))).status_code == 403
        r = await c.get(url, headers=agency.auth("auditor"))
        assert r.status_code == 429 and r.headers["retry-after"] == "2"
    finally:
        state.rate_limiter = original


async def test_the_access_log_names_the_key_of_a_read(
    agency: Agency, caplog: pytest.LogCaptureFixture
) -> None:
    c = agency.client
    pid = (await c.post("/v1/postings", json=posting_body(), headers=agency.auth("portal"))).json()[
        "id"
    ]
    caplog.set_level(logging.INFO, logger="jobmatch.access")
    assert (await c.get(f"/v1/postings/{pid}", headers=agency.auth("portal"))).status_code == 200
    [line] = [r for r in caplog.records if r.name == "jobmatch.access"]
    assert line.getMessage().startswith("GET /v1/postings/{record_id} 200 ")
    assert pid not in line.getMessage()
    # as the configured format prints it (it shows no `extra` fields)
    printed = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s").format(line)
    key_id = printed.rsplit("key=", 1)[1]
    assert UUID(key_id) and key_id != pid


def _row(profile: dict[str, Any]) -> Row:
    now = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    return Row(uuid4(), "P-1", profile, 3, now, now)


def test_profiles_not_as_stored_today_take_the_validating_path() -> None:
    """A profile with a field missing (stored before it was added), a nested
    object missing a field, or an integer where the schema has a number: the answer is still
    the validated model's (defaults filled in, 5 answered as 5.0)."""
    from service.records.schemas import PostingIn

    principal = Principal(key_id=uuid4(), agency_id=uuid4(), role=Role.portal)
    stored = PostingIn.model_validate(posting_body(experience_years_min=2.5)).model_dump(
        mode="json", exclude={"external_id"}
    )
    missing = {k: v for k, v in stored.items() if k != "openings"}
    nested = {**stored, "base_salary": {"min": 2500.0, "currency": "EUR", "period": "MONTH"}}
    as_int = {**stored, "experience_years_min": 5}
    for profile in (stored, missing, nested, as_int):
        row = _row(orjson.loads(orjson.dumps(profile)))
        expected = represent("posting", row, protected=None, principal=principal)
        assert represent_json("posting", row, protected=None, principal=principal) == (
            expected.model_dump_json(by_alias=True).encode()
        )
    assert b'"experience_years_min":5.0' in represent_json(
        "posting", _row(as_int), protected=None, principal=principal
    )
    assert b'"openings":1' in represent_json(
        "posting", _row(missing), protected=None, principal=principal
    )
