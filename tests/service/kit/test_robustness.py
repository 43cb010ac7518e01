"""Robustness: rate limits, statement timeouts, idempotent creates, ETag preconditions, caps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.kit import idempotency_repository as idempotency_db
from service.kit.ratelimit import RateLimiter
from tests.factories import Agency, FakeClock, posting_body, seeker_body

# --------------------------------------------------------------------------- rate limit


def test_token_bucket_refills_at_its_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute=60, burst=2, clock=clock)
    assert limiter.take("a") is None and limiter.take("a") is None
    wait = limiter.take("a")
    assert wait == pytest.approx(1.0) and limiter.retry_after(wait) == "1"
    assert limiter.take("b") is None  # buckets are per key
    clock.now += 0.5
    assert limiter.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take("a") is None
    clock.now += 3600
    assert limiter.take("a") is None and limiter.take("a") is None and limiter.take("a")
    assert RateLimiter(per_minute=0, burst=1).take("a") is None  # 0 = no limit


async def test_a_key_over_its_limit_gets_429_with_retry_after(app: Any, agency: Agency) -> None:
    state = app.state.jobmatch
    clock = FakeClock()
    original = state.rate_limiter
    state.rate_limiter = RateLimiter(per_minute=30, burst=3, clock=clock)
    try:
        c, portal = agency.client, agency.auth("portal")
        statuses = [(await c.get("/v1/postings", headers=portal)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        r = await c.get("/v1/postings", headers=portal)
        assert r.status_code == 429 and r.headers["retry-after"] == "2"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["title"] == "Too many requests"
        # other keys have buckets of their own
        assert (await c.get("/v1/postings", headers=agency.auth("caseworker"))).status_code == 200
        clock.now += 2
        assert (await c.get("/v1/postings", headers=portal)).status_code == 200
    finally:
        state.rate_limiter = original


def test_every_v1_operation_documents_429_and_503(app: Any) -> None:
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            if path.startswith("/v1/"):
                for status in ("429", "503"):
                    assert status in op["responses"], (method, path, status)
                    assert "Retry-After" in op["responses"][status]["headers"]


# --------------------------------------------------------------------------- statement timeout


@pytest.fixture
async def strict_app(settings: Any, embedder: Any) -> AsyncIterator[Any]:
    """A second app on the same database with a 300 ms statement timeout and no job worker."""
    from service.app import create_app

    strict = settings.model_copy(update={"statement_timeout_ms": 300, "run_worker": False})
    application = create_app(strict, embedder=embedder)
    async with LifespanManager(application):
        yield application


async def test_a_slow_statement_answers_503_not_500(
    strict_app: Any, agency: Agency, database_url: str
) -> None:
    transport = httpx.ASGITransport(app=strict_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        portal = agency.auth("portal")
        assert (await c.get("/v1/seekers", headers=portal)).status_code == 200
        blocker = await asyncpg.connect(database_url)
        try:
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("LOCK TABLE seeker IN ACCESS EXCLUSIVE MODE")
            start = time.perf_counter()
            r = await c.get("/v1/seekers", headers=portal)
            elapsed = time.perf_counter() - start
            await tx.rollback()
        finally:
            await blocker.close()
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["retry-after"] == "5"
        assert elapsed < 3, elapsed
        # and the pool is fine afterwards
        assert (await c.get("/v1/seekers", headers=portal)).status_code == 200


# --------------------------------------------------------------------------- idempotency


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"test-{uuid4()}"}


async def _count(pool: asyncpg.Pool, sql: str, *args: Any) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(sql, *args))


async def test_a_replayed_create_returns_the_first_response_and_creates_nothing(
    agency: Agency, other_agency: Agency, pool: asyncpg.Pool
) -> None:
    c = agency.client
    h = {**agency.auth("portal"), **_key()}
    body = seeker_body("IDEM-1")
    first = await c.post("/v1/seekers", json=body, headers=h)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = await c.post("/v1/seekers", json=dict(reversed(body.items())), headers=h)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    n = "SELECT count(*) FROM seeker WHERE agency_id = $1::uuid AND external_id = 'IDEM-1'"
    assert await _count(pool, n, agency.id) == 1
    # another body with the same key: 422, nothing created
    r = await c.post("/v1/seekers", json=seeker_body("IDEM-2"), headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "header.Idempotency-Key"
    # ... and so is the same key on another route
    r = await c.post("/v1/postings", json=posting_body("IDEM-P"), headers=h)
    assert r.status_code == 422
    assert (await c.get("/v1/postings", headers=agency.auth("portal"))).json()["items"] == []
    # keys are per agency: the other agency's identical key is a different key
    other = {**other_agency.auth("portal"), "Idempotency-Key": h["Idempotency-Key"]}
    r = await c.post("/v1/seekers", json=body, headers=other)
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"]
    # malformed keys are refused
    bad = {**agency.auth("portal"), "Idempotency-Key": "has space"}
    assert (await c.post("/v1/seekers", json=body, headers=bad)).status_code == 422


async def test_a_failed_request_releases_its_key(agency: Agency) -> None:
    c = agency.client
    h = {**agency.auth("portal"), **_key()}
    r = await c.post("/v1/seekers", json=seeker_body("REL-1", education_level=42), headers=h)
    assert r.status_code == 422
    r = await c.post("/v1/seekers", json=seeker_body("REL-1"), headers=h)
    assert r.status_code == 201, r.text  # the key was free again


async def test_every_kind_of_create_is_idempotent(agency: Agency, pool: asyncpg.Pool) -> None:
    c, portal, cw = agency.client, agency.auth("portal"), agency.auth("caseworker")
    pid = (await c.post("/v1/postings", json=posting_body("IK-P"), headers=portal)).json()["id"]
    seekers = [seeker_body(f"IK-S{i}") for i in range(3)]
    bulk_h = {**portal, **_key()}
    jobs = [
        (await c.post("/v1/seekers:bulk", json=seekers, headers=bulk_h)).json() for _ in range(2)
    ]
    assert jobs[0] == jobs[1] and jobs[0]["created"] == 3
    sid = (await c.get("/v1/seekers", headers=portal)).json()["items"][0]["id"]
    lst = (await c.get(f"/v1/postings/{pid}/matches", headers=cw)).json()
    dec_h = {**cw, **_key()}
    decisions = {"decisions": [{"rank": 1, "action": "shortlist"}]}
    url = f"/v1/match-lists/{lst['id']}/decisions"
    made = [(await c.post(url, json=decisions, headers=dec_h)).json() for _ in range(2)]
    assert made[0] == made[1]
    out_h = {**portal, **_key()}
    outcome = {"seeker_id": sid, "posting_id": pid, "outcome": "applied"}
    recorded = [
        (await c.post("/v1/outcomes", json=outcome, headers=out_h)).json() for _ in range(2)
    ]
    assert recorded[0] == recorded[1]
    agency_id = UUID(agency.id)
    assert await _count(pool, "SELECT count(*) FROM seeker WHERE agency_id = $1", agency_id) == 3
    assert await _count(pool, "SELECT count(*) FROM decision WHERE agency_id = $1", agency_id) == 1
    assert await _count(pool, "SELECT count(*) FROM outcome WHERE agency_id = $1", agency_id) == 1
    assert await _count(pool, "SELECT count(*) FROM job WHERE agency_id = $1", agency_id) == 1


async def test_concurrent_requests_with_one_key_create_one_record(
    agency: Agency, pool: asyncpg.Pool
) -> None:
    c, portal = agency.client, agency.auth("portal")
    h = {**portal, **_key()}
    # creates that take a while (the embedding): the second arrives while the first runs
    results = await asyncio.gather(
        *[c.post("/v1/seekers", json=seeker_body("RACE-1"), headers=h) for _ in range(4)]
    )
    assert [r.status_code for r in results] == [201] * 4, [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in results) == 3
    # fast creates with no natural key of their own (outcomes can repeat)
    pid = (await c.post("/v1/postings", json=posting_body("RACE-P"), headers=portal)).json()["id"]
    outcome = {"seeker_id": results[0].json()["id"], "posting_id": pid, "outcome": "hired"}
    h = {**portal, **_key()}
    results = await asyncio.gather(
        *[c.post("/v1/outcomes", json=outcome, headers=h) for _ in range(8)]
    )
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["id"] for r in results}) == 1
    n = "SELECT count(*) FROM outcome WHERE posting_id = $1::uuid"
    assert await _count(pool, n, pid) == 1


async def test_a_key_still_in_flight_answers_409_after_the_wait(
    app: Any, agency: Agency, pool: asyncpg.Pool
) -> None:
    state = app.state.jobmatch
    c, portal = agency.client, agency.auth("portal")
    h = {**portal, **_key()}
    body = posting_body("SLOW-1")
    # a first request that is still running (its row is pending) ...
    from service.kit.idempotency import request_hash

    digest = request_hash(
        "POST", "/v1/postings", "", "application/json", __import__("orjson").dumps(body)
    )
    async with pool.acquire() as conn:
        claimed = await idempotency_db.claim(
            conn,
            agency_id=UUID(agency.id),
            key=h["Idempotency-Key"],
            request_hash=digest,
            ttl_s=3600,
            stale_s=3600,
        )
    assert claimed is None
    original = state.settings
    state.settings = original.model_copy(update={"idempotency_wait_s": 0.3})
    try:
        start = time.perf_counter()
        r = await c.post("/v1/postings", json=body, headers=h)
        assert r.status_code == 409 and r.headers["retry-after"] == "1", r.text
        assert 0.3 <= time.perf_counter() - start < 2
        assert (await c.get("/v1/postings", headers=portal)).json()["items"] == []
        # ... and one that differs from it is refused at once
        r = await c.post("/v1/postings", json=posting_body("SLOW-2"), headers=h)
        assert r.status_code == 422
    finally:
        state.settings = original


# --------------------------------------------------------------------------- ETags


@pytest.mark.parametrize("kind", ["seeker", "posting"])
async def test_a_stale_if_match_answers_412_and_changes_nothing(
    agency: Agency, pool: asyncpg.Pool, kind: str
) -> None:
    c, h = agency.client, agency.auth("portal")
    make = seeker_body if kind == "seeker" else posting_body
    field = "headline" if kind == "seeker" else "title"
    r = await c.post(f"/v1/{kind}s", json=make("E-1"), headers=h)
    rid, first_tag = r.json()["id"], r.headers["etag"]
    assert first_tag == '"1"'
    r = await c.patch(f"/v1/{kind}s/{rid}", json={field: "Second"}, headers=h)
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    current = (await c.get(f"/v1/{kind}s/{rid}", headers=h)).json()

    async def snapshot() -> Any:
        async with pool.acquire() as conn:
            return await conn.fetchrow(
                f"SELECT r.*, e.embedding::text AS vec FROM {kind} r "
                f"JOIN {kind}_embedding e ON e.{kind}_id = r.id WHERE r.id = $1::uuid",
                rid,
            )

    before = await snapshot()
    stale = {**h, "If-Match": first_tag}
    for method, body in (
        ("PUT", make("E-1", **{field: "Third"})),
        ("PATCH", {field: "Third"}),
    ):
        r = await c.request(method, f"/v1/{kind}s/{rid}", json=body, headers=stale)
        assert r.status_code == 412, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await c.patch(
        f"/v1/{kind}s/{rid}", json={field: "Third"}, headers={**h, "If-Match": '"nonsense"'}
    )
    assert r.status_code == 412  # a well-formed entity tag that is not the current one
    r = await c.patch(
        f"/v1/{kind}s/{rid}", json={field: "Third"}, headers={**h, "If-Match": "W/1x"}
    )
    assert r.status_code == 422  # not an entity tag at all
    assert r.json()["errors"][0]["field"] == "header.if-match"
    assert await snapshot() == before
    assert (await c.get(f"/v1/{kind}s/{rid}", headers=h)).json() == current
    # the current tag (or *) goes through
    r = await c.patch(f"/v1/{kind}s/{rid}", json={field: "Third"}, headers={**h, "If-Match": '"2"'})
    assert r.status_code == 200 and r.headers["etag"] == '"3"'
    r = await c.put(f"/v1/{kind}s/{rid}", json=make("E-1"), headers={**h, "If-Match": "*"})
    assert r.status_code == 200 and r.headers["etag"] == '"4"'


async def test_two_writers_with_one_etag_only_one_wins(agency: Agency) -> None:
    c, h = agency.client, agency.auth("portal")
    r = await c.post("/v1/seekers", json=seeker_body("E-RACE"), headers=h)
    sid, tag = r.json()["id"], r.headers["etag"]
    results = await asyncio.gather(
        *[
            c.patch(
                f"/v1/seekers/{sid}", json={"headline": f"v{i}"}, headers={**h, "If-Match": tag}
            )
            for i in range(3)
        ]
    )
    assert sorted(r.status_code for r in results) == [200, 412, 412]
    winner = next(r for r in results if r.status_code == 200).json()["headline"]
    assert (await c.get(f"/v1/seekers/{sid}", headers=h)).json()["headline"] == winner


# --------------------------------------------------------------------------- caps


async def test_size_caps(agency: Agency) -> None:
    c, h = agency.client, agency.auth("portal")
    rows = [posting_body(f"CAP-{i}") for i in range(501)]  # the test settings allow 500
    r = await c.post("/v1/postings:bulk", json=rows, headers=h)
    assert r.status_code == 413 and "at most 500" in r.json()["detail"]
    assert (await c.get("/v1/postings", headers=h)).json()["items"] == []
    for path, limit in (("/v1/postings", 201), ("/v1/api-keys", 201)):
        auth = agency.auth("admin" if "keys" in path else "portal")
        r = await c.get(path, params={"limit": limit}, headers=auth)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.limit"
    sid = (await c.post("/v1/seekers", json=seeker_body("CAP-S"), headers=h)).json()["id"]
    r = await c.get(f"/v1/seekers/{sid}/matches", params={"limit": 101}, headers=h)
    assert r.status_code == 422


async def test_head_of_the_liveness_probe_answers_200(client: httpx.AsyncClient) -> None:
    r = await client.head("/healthz")
    assert r.status_code == 200 and r.content == b""
    assert (await client.get("/healthz")).json() == {"status": "ok", "checks": {}}


async def test_the_docs_load_nothing_from_outside(client: httpx.AsyncClient) -> None:
    """Agencies' networks are often offline: /docs must not need a CDN (issue 16, item 8)."""
    import re

    page = await client.get("/docs")
    assert page.status_code == 200
    assert not re.search(r"(src|href)=['\"](https?:)?//", page.text), page.text
    assets = re.findall(r"(?:src|href)=['\"](/docs/assets/[^'\"]+)", page.text)
    assert len(assets) >= 2
    for asset in assets:
        r = await client.get(asset)
        assert r.status_code == 200 and len(r.content) > 500, asset
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200
