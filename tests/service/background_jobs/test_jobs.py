"""The PostgreSQL job queue: exactly-once delivery across workers, dead workers, cancellation."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any
from uuid import UUID

from service.background_jobs import repository as jobs_db
from service.background_jobs import worker as jobs
from tests.factories import Agency

RUNS: Counter[UUID] = Counter()


async def _count(state: Any, job: Any, progress: Any) -> dict[str, Any]:
    RUNS[job.id] += 1
    await asyncio.sleep(0.01)  # let the other worker try to take the same job
    await progress(1, 1, "counted")
    return {"ran": True}


async def _slow(state: Any, job: Any, progress: Any) -> dict[str, Any]:
    for i in range(100):
        await progress(i, 100, "working")
        await asyncio.sleep(0.05)
    return {}


# The app's own worker runs only the service's handlers (service.tasks); these run in workers
# the tests start themselves.
TEST_HANDLERS: dict[str, jobs.Handler] = {"test_count": _count, "test_slow": _slow}


def _start_worker(
    state: Any, *, poll_seconds: float, name: str | None = None, idle: list[Any] | None = None
) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A worker running the test handlers, and the event that stops it."""
    stop = asyncio.Event()
    worker = asyncio.create_task(
        jobs.run_worker(
            state,
            handlers=TEST_HANDLERS,
            stop=stop,
            poll_seconds=poll_seconds,
            name=name,
            idle=idle or [],
        )
    )
    return worker, stop


async def _enqueue(pool: Any, agency: Agency, kind: str, n: int) -> list[UUID]:
    async with pool.acquire() as conn:
        return [
            (await jobs_db.create(conn, agency_id=UUID(agency.id), kind=kind, created_by=None)).id
            for _ in range(n)
        ]


async def test_two_workers_run_each_job_exactly_once(app: Any, pool: Any, agency: Agency) -> None:
    state = app.state.jobmatch
    ids = await _enqueue(pool, agency, "test_count", 40)
    stop = asyncio.Event()
    workers = [
        asyncio.create_task(
            jobs.run_worker(
                state, handlers=TEST_HANDLERS, stop=stop, poll_seconds=0.05, name=f"w{i}"
            )
        )
        for i in range(2)
    ]
    async with pool.acquire() as conn:
        for _ in range(400):
            left = await conn.fetchval(
                "SELECT count(*) FROM job WHERE id = ANY($1::uuid[]) AND status <> 'succeeded'",
                ids,
            )
            if left == 0:
                break
            await asyncio.sleep(0.05)
        claimed_by = await conn.fetch("SELECT claimed_by FROM job WHERE id = ANY($1::uuid[])", ids)
    stop.set()
    await asyncio.gather(*workers)
    assert left == 0
    assert all(RUNS[i] == 1 for i in ids), {i: RUNS[i] for i in ids if RUNS[i] != 1}
    # the work really was shared
    assert {r["claimed_by"] for r in claimed_by} == {"w0", "w1"}


async def test_a_job_whose_worker_died_is_requeued_then_failed(pool: Any, agency: Agency) -> None:
    [job_id] = await _enqueue(pool, agency, "test_orphan", 1)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE job SET max_attempts = 2 WHERE id = $1", job_id)
        for attempt in (1, 2):
            job = await jobs_db.claim(conn, worker="doomed", kinds=["test_orphan"])
            assert job is not None and job.id == job_id and job.attempts == attempt
            # the worker dies: no heartbeat for longer than the stale limit
            await conn.execute(
                "UPDATE job SET heartbeat_at = now() - interval '10 minutes' WHERE id = $1", job_id
            )
            await jobs_db.reap_stale(conn, stale_seconds=60)
            status = await conn.fetchval("SELECT status FROM job WHERE id = $1", job_id)
            assert status == ("queued" if attempt == 1 else "failed")
        error = await conn.fetchval("SELECT error FROM job WHERE id = $1", job_id)
    assert error == "the worker stopped responding"


async def test_cancel_a_running_job(app: Any, pool: Any, agency: Agency) -> None:
    [job_id] = await _enqueue(pool, agency, "test_slow", 1)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE job SET created_by_role = 'admin' WHERE id = $1", job_id)
    worker, stop = _start_worker(app.state.jobmatch, poll_seconds=0.05)
    c = agency.client
    for _ in range(100):
        job = (await c.get(f"/v1/jobs/{job_id}", headers=agency.auth("admin"))).json()
        if job["status"] == "running" and job["done"] > 0:
            break
        await asyncio.sleep(0.05)
    assert job["phase"] == "working" and job["total"] == 100
    r = await c.post(f"/v1/jobs/{job_id}:cancel", headers=agency.auth("admin"))
    assert r.status_code == 200
    for _ in range(100):
        job = (await c.get(f"/v1/jobs/{job_id}", headers=agency.auth("admin"))).json()
        if job["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "cancelled" and job["done"] < 100
    # a job started by the admin role is not the portal's to see
    assert (await c.get(f"/v1/jobs/{job_id}", headers=agency.auth("portal"))).status_code == 404
    stop.set()
    await worker


def test_every_job_kind_the_service_queues_has_a_handler() -> None:
    """Every kind passed to the job queue's `create` in service/ is in the one list a worker is
    handed (service.tasks), so no queued job waits for a handler that was never imported."""
    import re
    from pathlib import Path

    from service.tasks import HANDLERS

    queued: set[str] = set()
    for path in Path("service").rglob("*.py"):
        for call in re.findall(r"jobs_db\.create\((.*?)\n\s*\)", path.read_text(), re.S):
            kind = re.search(r'kind=(f?)"([a-z_{}]+)"', call)
            if kind and kind.group(1):  # f"{kind}_import": one per record kind
                queued |= {kind.group(2).format(kind=k) for k in ("seeker", "posting")}
            elif kind:
                queued.add(kind.group(2))
    assert {"reembed", "train_model", "seeker_import"} <= queued, queued  # the scan still works
    assert queued <= set(HANDLERS), queued - set(HANDLERS)


async def test_a_job_queued_in_this_process_starts_without_waiting_for_the_poll(
    app: Any, pool: Any, agency: Agency
) -> None:
    state = app.state.jobmatch
    worker, stop = _start_worker(state, poll_seconds=600, name="wake")
    await asyncio.sleep(1.0)  # the queue is drained: the worker now waits (for up to 600 s)
    (job_id,) = await _enqueue(pool, agency, "test_count", 1)
    state.job_queued.set()  # as bulk imports and retraining do when they queue one
    async with pool.acquire() as conn:
        for _ in range(600):
            status = await conn.fetchval("SELECT status FROM job WHERE id = $1", job_id)
            if status == "succeeded":
                break
            await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(worker, timeout=30)  # a stop ends the wait too
    assert status == "succeeded" and RUNS[job_id] == 1


async def test_idle_steps_run_while_no_job_waits_and_a_queued_job_goes_first(
    app: Any, pool: Any, agency: Agency
) -> None:
    """The worker takes idle steps one after the other while the queue is empty; a job queued
    meanwhile runs before the next step; once a step finds nothing, the worker waits."""
    queued: list[UUID] = []
    runs_seen: list[int] = []  # the queued job's runs, as each step saw them
    calls = 0

    async def step(state: Any) -> bool:
        nonlocal calls
        calls += 1
        if len(runs_seen) == 12:
            return False
        if len(runs_seen) == 5:
            queued.extend(await _enqueue(pool, agency, "test_count", 1))
        runs_seen.append(RUNS[queued[0]] if queued else 0)
        await asyncio.sleep(0.01)
        return True

    worker, stop = _start_worker(app.state.jobmatch, poll_seconds=600, name="idle", idle=[step])
    for _ in range(600):
        if calls > 12:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(worker, timeout=30)
    assert runs_seen[4:7] == [0, 0, 1], runs_seen  # queued at the 6th step, run before the 7th
    assert len(runs_seen) == 12 and calls == 13  # then no step until the next poll


async def test_the_worker_survives_a_broken_connection_and_a_failing_step(
    app: Any, pool: Any, agency: Agency, caplog: Any
) -> None:
    """A connection that dies mid-statement can leave asyncpg reporting InternalClientError
    (not an InterfaceError); a step can also fail for a reason nobody foresaw. Neither may end
    the worker: the queue would stand still until the process restarts."""
    import asyncpg

    failures: list[Exception] = [
        asyncpg.exceptions.InternalClientError("cannot switch to state 12"),
        RuntimeError("a bug in an idle step, quoting someone@example.org"),
    ]

    async def failing_step(state: Any) -> bool:
        if failures:
            raise failures.pop(0)
        return False

    worker, stop = _start_worker(
        app.state.jobmatch, poll_seconds=0.05, name="survivor", idle=[failing_step]
    )
    for _ in range(200):
        if not failures:
            break
        await asyncio.sleep(0.05)
    (job_id,) = await _enqueue(pool, agency, "test_count", 1)
    async with pool.acquire() as conn:
        for _ in range(600):
            status = await conn.fetchval("SELECT status FROM job WHERE id = $1", job_id)
            if status == "succeeded" or worker.done():
                break
            await asyncio.sleep(0.05)
    assert not worker.done(), worker.exception()
    stop.set()
    await asyncio.wait_for(worker, timeout=30)
    assert status == "succeeded" and RUNS[job_id] == 1
    logged = [r.getMessage() for r in caplog.records if r.name == "jobmatch.jobs"]
    assert any("database unavailable (InternalClientError)" in m for m in logged), logged
    assert any("step failed (RuntimeError)" in m for m in logged), logged
    assert not any("example.org" in m for m in logged)  # the exception's text is not logged


async def test_a_claimed_import_leaves_its_records_in_the_database_until_asked(
    pool: Any, agency: Agency
) -> None:
    """An import's records can be megabytes: a claim returns the other parameters, and the
    records are read on their own, until the job finishes and they go."""
    records = [[0, {"external_id": "A"}], [1, {"external_id": "B"}]]
    async with pool.acquire() as conn:
        created = await jobs_db.create(
            conn,
            agency_id=UUID(agency.id),
            kind="test_records",
            created_by=None,
            params={"records": records, "errors": [], "acted_by": "someone"},
        )
        job = await jobs_db.claim(conn, worker="reader", kinds=["test_records"])
        assert job is not None and job.id == created.id
        assert job.params == {"errors": [], "acted_by": "someone"}
        ids = {"agency_id": job.agency_id, "job_id": job.id}
        assert await jobs_db.upload_records(conn, **ids) == records
        await jobs_db.finish(conn, **ids, status="succeeded")
        assert await jobs_db.upload_records(conn, **ids) == []
