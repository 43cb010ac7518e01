"""Periodic jobs against the real database: queued once per agency however many workers check
at once, not again while one is queued or running or finished recently, again once it is due."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from service.background_jobs.schedule import Periodic, enqueue_due
from service.tasks import PERIODIC
from tests.factories import Agency


def _only(*agencies: Agency) -> Any:
    ids = [UUID(a.id) for a in agencies]

    async def which(conn: asyncpg.Connection) -> list[UUID]:
        return ids

    return which


async def _jobs(pool: asyncpg.Pool, kind: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT agency_id, status, created_by FROM job WHERE kind = $1 ORDER BY agency_id",
            kind,
        )


async def test_periodic_jobs_are_queued_once_per_agency_and_again_when_due(
    pool: asyncpg.Pool, settings: Any, agency: Agency, other_agency: Agency
) -> None:
    kind = f"test_periodic_{uuid4().hex[:8]}"  # no worker handles it: it stays queued
    hourly = Periodic(kind, every=lambda s: 3600.0, agencies=_only(agency, other_agency))
    try:
        # eight workers checking at the same moment queue one job per agency
        results = await asyncio.gather(*(enqueue_due(pool, settings, [hourly]) for _ in range(8)))
        assert sorted(str(a) for r in results for a, _ in r) == sorted([agency.id, other_agency.id])
        jobs = await _jobs(pool, kind)
        assert [(str(j["agency_id"]), j["status"]) for j in jobs] == sorted(
            [(agency.id, "queued"), (other_agency.id, "queued")]
        )
        assert all(j["created_by"] is None for j in jobs)  # the service's own
        # still queued (then running): nothing more
        assert await enqueue_due(pool, settings, [hourly]) == []
        async with pool.acquire() as conn:
            await conn.execute("UPDATE job SET status = 'running' WHERE kind = $1", kind)
        assert await enqueue_due(pool, settings, [hourly]) == []
        # finished a minute ago: not due; finished two hours ago: due again (a restarted
        # process knows it from the table alone)
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE job SET status = 'succeeded', finished_at = now() - interval '1 minute' "
                "WHERE kind = $1",
                kind,
            )
        assert await enqueue_due(pool, settings, [hourly]) == []
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE job SET finished_at = now() - interval '2 hours' "
                "WHERE kind = $1 AND agency_id = $2",
                kind,
                UUID(agency.id),
            )
        assert await enqueue_due(pool, settings, [hourly]) == [(UUID(agency.id), kind)]
        # an interval of 0 turns it off
        off = Periodic(kind, every=lambda s: 0.0, agencies=_only(agency, other_agency))
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM job WHERE kind = $1", kind)
        assert await enqueue_due(pool, settings, [off]) == []
    finally:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM job WHERE kind = $1", kind)


async def test_rebalance_is_scheduled_only_for_balanced_agencies(
    pool: asyncpg.Pool, settings: Any, agency: Agency, other_agency: Agency
) -> None:
    [rebalance] = [p for p in PERIODIC if p.kind == "capacity_rebalance"]
    assert rebalance.every(settings) == settings.capacity_rebalance_seconds  # type: ignore[attr-defined]
    admin = agency.auth("admin")
    r = await agency.client.put("/v1/capacity-policy", json={"method": "balanced"}, headers=admin)
    assert r.status_code == 200
    r = await other_agency.client.put(
        "/v1/capacity-policy", json={"method": "cap"}, headers=other_agency.auth("admin")
    )
    assert r.status_code == 200
    async with pool.acquire() as conn:
        assert rebalance.agencies is not None
        balanced = await rebalance.agencies(conn)
    assert UUID(agency.id) in balanced and UUID(other_agency.id) not in balanced
    await enqueue_due(pool, settings, [rebalance])
    async with pool.acquire() as conn:
        kinds = {
            str(r["agency_id"]): r["n"]
            for r in await conn.fetch(
                "SELECT agency_id, count(*) AS n FROM job WHERE kind = 'capacity_rebalance' "
                "AND agency_id = ANY($1::uuid[]) GROUP BY agency_id",
                [UUID(agency.id), UUID(other_agency.id)],
            )
        }
    # queued now (or already by the app's own worker, which checks the same schedule)
    assert kinds == {agency.id: 1}
    # the app's worker runs it: a price set is stored for the agency
    for _ in range(600):
        async with pool.acquire() as conn:
            done = await conn.fetchval(
                "SELECT status FROM job WHERE kind = 'capacity_rebalance' AND agency_id = $1",
                UUID(agency.id),
            )
            stored = await conn.fetchval(
                "SELECT count(*) FROM congestion_price_set WHERE agency_id = $1", UUID(agency.id)
            )
        if done in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.1)
    assert done == "succeeded" and stored == 1


async def test_retention_is_scheduled_for_every_agency_and_the_worker_applies_it(
    pool: asyncpg.Pool, settings: Any, agency: Agency
) -> None:
    [retention] = [p for p in PERIODIC if p.kind == "apply_retention"]
    assert retention.agencies is None  # every agency keeps records for a limited time
    daily = settings.model_copy(update={"retention_interval_seconds": 86400.0})  # type: ignore[attr-defined]
    assert retention.every(daily) == 86400.0
    assert retention.every(settings) == 0  # the test session turns it off: nothing queued
    assert await enqueue_due(pool, settings, [retention]) == []
    queued = await enqueue_due(pool, daily, [retention])
    async with pool.acquire() as conn:
        mine = await conn.fetch(
            "SELECT status FROM job WHERE kind = 'apply_retention' AND agency_id = $1",
            UUID(agency.id),
        )
    assert len(mine) == 1 and (UUID(agency.id), "apply_retention") in queued
    # the app's worker applies it
    for _ in range(600):
        async with pool.acquire() as conn:
            status = await conn.fetchval(
                "SELECT status FROM job WHERE kind = 'apply_retention' AND agency_id = $1",
                UUID(agency.id),
            )
        if status == "succeeded":
            break
        await asyncio.sleep(0.1)
    assert status == "succeeded"
