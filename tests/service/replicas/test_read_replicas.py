"""Read replicas, against a real streaming replica: an embedded PostgreSQL primary of this
module's own, a standby made from it with `pg_basebackup -R`, and the app configured with both
(JOBMATCH_DATABASE_URL, JOBMATCH_READ_DATABASE_URL).

What must hold: a key reads its own writes back at once, even while the standby replays
nothing; match routes read from the standby when it has caught up; lag shows in /metrics and
/readyz; and with the standby stopped every request still answers, from the primary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import Agency, make_agency, posting_body, seeker_body
from tests.service.replicas.standby import PrimaryWithStandby


@pytest.fixture(scope="module")
def servers() -> Iterator[PrimaryWithStandby]:
    from service.kit import migrate

    servers = PrimaryWithStandby()
    try:
        migrate.upgrade(servers.start_primary())
        servers.check_primary_allows_replication()
        servers.base_backup_and_start_standby()
        yield servers
    finally:
        servers.close()


@pytest.fixture(scope="module")
async def replica_app(
    servers: PrimaryWithStandby, settings: Any, embedder: Any
) -> AsyncIterator[Any]:
    from service.app import create_app

    replicated = settings.model_copy(
        update={
            "database_url": servers.server_url,
            "read_database_url": servers.standby_server_url,
            # Long enough that pausing the standby's replay for a test does not make it "too
            # far behind" (one test lowers it on purpose).
            "read_replica_max_lag_seconds": 60.0,
            "db_connect_timeout_s": 2.0,
            "pool_min_size": 1,
            "pool_max_size": 4,
            "run_worker": False,
            "warm_posting_profiles": False,
            "match_list_reuse_seconds": 0.0,
        }
    )
    application = create_app(replicated, embedder=embedder)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(replica_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=replica_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def agency(replica_app: Any, client: httpx.AsyncClient) -> Agency:
    return await make_agency(replica_app, replica_app.state.jobmatch.pool, client)


async def _standby(servers: PrimaryWithStandby, sql: str) -> Any:
    conn = await asyncpg.connect(servers.standby_server_url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _primary_lsn(app: Any) -> int:
    async with app.state.jobmatch.pool.acquire() as conn:
        return int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))


async def _caught_up(app: Any) -> None:
    """Wait until the standby has replayed everything the primary has now, and the app's
    monitor has seen it well (every key's floor taken until now is then passed)."""
    target = await _primary_lsn(app)
    standby = app.state.jobmatch.replicas.replicas[0]
    deadline = time.monotonic() + 30
    while standby.replay_lsn < target or standby.problem is not None:
        assert time.monotonic() < deadline, "the standby did not catch up"
        await asyncio.sleep(0.1)


def _samples(page: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
    }


async def _reads(client: httpx.AsyncClient) -> tuple[float, float]:
    """Reads served so far by the standby (replica "1") and by the primary."""
    samples = _samples((await client.get("/metrics")).text)
    return (
        samples.get(("jobmatch_db_reads_total", frozenset({("served_by", "1")})), 0.0),
        samples.get(("jobmatch_db_reads_total", frozenset({("served_by", "primary")})), 0.0),
    )


async def test_the_standby_is_a_streaming_replica_of_the_primary(
    servers: PrimaryWithStandby, replica_app: Any
) -> None:
    assert await _standby(servers, "SELECT pg_is_in_recovery()") is True
    deadline = time.monotonic() + 30  # its WAL receiver starts just after it accepts connections
    while await _standby(servers, "SELECT status FROM pg_stat_wal_receiver") != "streaming":
        assert time.monotonic() < deadline, "the standby is not streaming"
        await asyncio.sleep(0.2)
    # The primary sees it as a replication connection.
    async with replica_app.state.jobmatch.pool.acquire() as conn:
        senders = await conn.fetchval("SELECT count(*) FROM pg_stat_replication")
    assert senders == 1


async def test_a_key_reads_its_own_writes_even_while_the_standby_replays_nothing(
    servers: PrimaryWithStandby, agency: Agency, replica_app: Any
) -> None:
    c = agency.client
    caseworker, portal = agency.auth("caseworker"), agency.auth("portal")
    sid = (await c.post("/v1/seekers", json=seeker_body("RYW-1"), headers=caseworker)).json()["id"]
    await _caught_up(replica_app)
    before = await _reads(c)
    assert (await c.get(f"/v1/seekers/{sid}", headers=caseworker)).status_code == 200
    assert (await _reads(c))[0] == before[0] + 1  # caught up: the standby served it

    await _standby(servers, "SELECT pg_wal_replay_pause()")
    try:
        changed = await c.patch(
            f"/v1/seekers/{sid}",
            json={"headline": "Reach truck driver"},
            headers={**caseworker, "Content-Type": "application/merge-patch+json"},
        )
        assert changed.status_code == 200, changed.text
        created = await c.post("/v1/postings", json=posting_body("RYW-P"), headers=portal)
        assert created.status_code == 201
        pid = created.json()["id"]

        # Each key gets its own writes back at once: the standby has not replayed them, so
        # the primary answers.
        seeker = await c.get(f"/v1/seekers/{sid}", headers=caseworker)
        assert seeker.status_code == 200
        assert seeker.json()["headline"] == "Reach truck driver"
        page = await c.get("/v1/seekers", headers=caseworker)
        assert "Reach truck driver" in [s["headline"] for s in page.json()["items"]]
        assert (await c.get(f"/v1/postings/{pid}", headers=portal)).status_code == 200
        postings = await c.get("/v1/postings", headers=portal)
        assert pid in [p["id"] for p in postings.json()["items"]]
        # A match made now uses the new headline (its list stores the profile's hash; the
        # list is read back by the key that made it).
        matches = await c.get(f"/v1/seekers/{sid}/matches", headers=caseworker)
        assert matches.status_code == 200
        listed = await c.get("/v1/match-lists", params={"seeker_id": sid}, headers=caseworker)
        assert matches.json()["id"] in [m["id"] for m in listed.json()["items"]]
        assert (
            await c.get(f"/v1/match-lists/{matches.json()['id']}", headers=caseworker)
        ).status_code == 200
        # None of this came from the standby.
        after = await _reads(c)
        assert after[0] == before[0] + 1
    finally:
        await _standby(servers, "SELECT pg_wal_replay_resume()")


async def test_a_key_without_writes_since_is_served_by_the_lagging_standby(
    servers: PrimaryWithStandby, agency: Agency, replica_app: Any
) -> None:
    """The other side of read-your-writes: a key that has done nothing since is served by the
    standby even while it lags (within the lag allowed), and may see an older version."""
    import uuid

    from service.auth import repository as agencies
    from service.auth.permissions import Role

    c, writer = agency.client, agency.auth("caseworker")
    sid = (await c.post("/v1/seekers", json=seeker_body("RYW-2"), headers=writer)).json()["id"]
    async with replica_app.state.jobmatch.pool.acquire() as conn:
        key = await agencies.create_api_key(
            conn, agency_id=uuid.UUID(agency.id), role=Role.caseworker, name="reader"
        )
    reader = {"Authorization": f"Bearer {key.secret}"}
    await _caught_up(replica_app)
    await _standby(servers, "SELECT pg_wal_replay_pause()")
    try:
        patched = await c.patch(
            f"/v1/seekers/{sid}",
            json={"headline": "Warehouse team lead"},
            headers={**writer, "Content-Type": "application/merge-patch+json"},
        )
        assert patched.status_code == 200
        before = await _reads(c)
        stale = await c.get(f"/v1/seekers/{sid}", headers=reader)
        assert stale.status_code == 200
        assert stale.json()["headline"].startswith("Forklift")  # the standby's older version
        assert (await _reads(c))[0] == before[0] + 1
        # A read answered by the standby alone leaves no floor for its key.
        assert key.id not in replica_app.state.jobmatch.replicas.floors
        # The writer, meanwhile, still gets its own.
        own = await c.get(f"/v1/seekers/{sid}", headers=writer)
        assert own.json()["headline"] == "Warehouse team lead"
    finally:
        await _standby(servers, "SELECT pg_wal_replay_resume()")
    await _caught_up(replica_app)
    caught_up = await c.get(f"/v1/seekers/{sid}", headers=reader)
    assert caught_up.json()["headline"] == "Warehouse team lead"


async def test_match_routes_read_from_the_standby_when_it_has_caught_up(
    servers: PrimaryWithStandby, agency: Agency, replica_app: Any
) -> None:
    c = agency.client
    portal, caseworker = agency.auth("portal"), agency.auth("caseworker")
    sid = (await c.post("/v1/seekers", json=seeker_body("M-1"), headers=portal)).json()["id"]
    pids = [
        (await c.post("/v1/postings", json=posting_body(f"M-P{i}"), headers=portal)).json()["id"]
        for i in range(3)
    ]
    await _caught_up(replica_app)
    replica_sessions_before = await _standby(
        servers,
        "SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database WHERE datname = 'postgres'",
    )
    before = await _reads(c)
    for_seeker = await c.get(f"/v1/seekers/{sid}/matches", headers=caseworker)
    assert for_seeker.status_code == 200, for_seeker.text
    assert set(pids) <= {i["posting_id"] for i in for_seeker.json()["items"]}
    await _caught_up(replica_app)  # the list the key just stored is on the standby
    for_posting = await c.get(f"/v1/postings/{pids[0]}/matches", headers=caseworker)
    assert for_posting.status_code == 200, for_posting.text
    assert sid in {i["seeker_id"] for i in for_posting.json()["items"]}
    after = await _reads(c)
    assert after[0] - before[0] == 2  # both lists were made from the standby's reads
    assert after[1] == before[1]
    # ... which the standby itself counted (its transactions, the reads of both lists).
    replica_sessions_after = await _standby(
        servers,
        "SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database WHERE datname = 'postgres'",
    )
    assert replica_sessions_after > replica_sessions_before
    # The lists were stored on the primary (a standby cannot write), and read back.
    listed = await c.get(f"/v1/match-lists/{for_posting.json()['id']}", headers=caseworker)
    assert listed.status_code == 200

    # A list made from the standby's reads is still the key's own write: listed at once, even
    # while the standby replays nothing.
    await _caught_up(replica_app)
    await _standby(servers, "SELECT pg_wal_replay_pause()")
    try:
        before = await _reads(c)
        again = await c.get(f"/v1/seekers/{sid}/matches", headers=caseworker)
        assert again.status_code == 200
        assert (await _reads(c))[0] == before[0] + 1  # read on the standby
        lists = await c.get("/v1/match-lists", params={"seeker_id": sid}, headers=caseworker)
        assert again.json()["id"] in [m["id"] for m in lists.json()["items"]]
    finally:
        await _standby(servers, "SELECT pg_wal_replay_resume()")


async def test_lag_shows_in_metrics_and_readyz_and_a_lagging_standby_is_skipped(
    servers: PrimaryWithStandby, agency: Agency, replica_app: Any
) -> None:
    c, portal = agency.client, agency.auth("portal")
    replicas = replica_app.state.jobmatch.replicas
    await _caught_up(replica_app)
    samples = _samples((await c.get("/metrics")).text)
    assert ("jobmatch_db_replica_lag_seconds", frozenset({("replica", "1")})) in samples
    assert samples[("jobmatch_db_replica_up", frozenset({("replica", "1")}))] == 1
    ready = await c.get("/readyz")
    assert ready.status_code == 200
    assert [v for k, v in ready.json()["checks"].items() if k.startswith("replica 1")] == [
        "ok (0.0 s behind)"
    ]

    sid = (await c.post("/v1/seekers", json=seeker_body("LAG-1"), headers=portal)).json()["id"]
    await _standby(servers, "SELECT pg_wal_replay_pause()")
    replicas.max_lag_s = 1.0
    try:
        await c.patch(
            f"/v1/seekers/{sid}",
            json={"headline": "Order picker"},
            headers={**portal, "Content-Type": "application/merge-patch+json"},
        )
        deadline = time.monotonic() + 20
        while replicas.replicas[0].problem is None:
            assert time.monotonic() < deadline, "the lag was never seen"
            await asyncio.sleep(0.2)
        samples = _samples((await c.get("/metrics")).text)
        lag = samples[("jobmatch_db_replica_lag_seconds", frozenset({("replica", "1")}))]
        assert lag > 1.0
        assert samples[("jobmatch_db_replica_lag_bytes", frozenset({("replica", "1")}))] > 0
        assert samples[("jobmatch_db_replica_up", frozenset({("replica", "1")}))] == 0
        ready = await c.get("/readyz")
        assert ready.status_code == 200  # reads go to the primary: still ready
        line = next(v for k, v in ready.json()["checks"].items() if k.startswith("replica 1"))
        assert line.startswith("lagging (") and line.endswith("reads go to the primary")
        # Skipped: a key that wrote nothing recently is served by the primary now.
        before = await _reads(c)
        reader = agency.auth("caseworker")
        seeker = await c.get(f"/v1/seekers/{sid}", headers=reader)
        assert seeker.json()["headline"] == "Order picker"
        assert (await _reads(c))[1] == before[1] + 1
    finally:
        replicas.max_lag_s = 60.0
        await _standby(servers, "SELECT pg_wal_replay_resume()")
    await _caught_up(replica_app)


async def test_with_the_standby_stopped_every_request_answers_from_the_primary(
    servers: PrimaryWithStandby, agency: Agency, replica_app: Any
) -> None:
    c = agency.client
    portal, caseworker = agency.auth("portal"), agency.auth("caseworker")
    sid = (await c.post("/v1/seekers", json=seeker_body("DOWN-1"), headers=portal)).json()["id"]
    pid = (await c.post("/v1/postings", json=posting_body("DOWN-P"), headers=portal)).json()["id"]
    await _caught_up(replica_app)
    replicas = replica_app.state.jobmatch.replicas
    servers.stop_standby()
    try:
        # Before the monitor notices: the first read fails on the standby and is answered by
        # the primary; then the standby is skipped.
        for _ in range(2):
            assert (await c.get(f"/v1/seekers/{sid}", headers=caseworker)).status_code == 200
            assert (await c.get(f"/v1/postings/{pid}", headers=caseworker)).status_code == 200
            assert (await c.get("/v1/seekers", headers=caseworker)).status_code == 200
            matched = await c.get(f"/v1/seekers/{sid}/matches", headers=caseworker)
            assert matched.status_code == 200, matched.text
            assert pid in [i["posting_id"] for i in matched.json()["items"]]
            assert (
                await c.get(f"/v1/postings/{pid}/matches", headers=caseworker)
            ).status_code == 200
            assert (await c.get("/v1/match-lists", headers=caseworker)).status_code == 200
            report = await c.get("/v1/reports/fairness", headers=agency.auth("admin"))
            assert report.status_code == 200
        assert replicas.replicas[0].up is False
        ready = await c.get("/readyz")
        assert ready.status_code == 200
        line = next(v for k, v in ready.json()["checks"].items() if k.startswith("replica 1"))
        assert line.startswith("down (") and line.endswith("reads go to the primary"), line
        samples = _samples((await c.get("/metrics")).text)
        assert samples[("jobmatch_db_replica_up", frozenset({("replica", "1")}))] == 0
    finally:
        servers.start_standby()
    # Back: the monitor finds it again and reads return to it.
    await _caught_up(replica_app)
    before = await _reads(c)
    assert (await c.get(f"/v1/postings/{pid}", headers=caseworker)).status_code == 200
    assert (await _reads(c))[0] == before[0] + 1
