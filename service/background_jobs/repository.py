"""The job table: a PostgreSQL-backed queue (claimed with FOR UPDATE SKIP LOCKED) and the
progress of each job."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel


class Job(BaseModel):
    id: UUID
    agency_id: UUID
    kind: str
    status: str
    created_by: UUID | None
    created_by_role: str | None
    total: int
    done: int
    phase: str | None
    params: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


_COLS = (
    "id, agency_id, kind, status, created_by, created_by_role, total, done, phase, params, "
    "result, error, attempts, max_attempts, cancel_requested, created_at, started_at, finished_at"
)
# Everything but the parameters, which can be megabytes (an import's records): what status
# reads and polls return (`params` empty). Only the worker that claims a job needs them.
_STATUS_COLS = _COLS.replace("params,", "'{}'::jsonb AS params,")
# What a worker claims: the parameters without an import's records, which the import reads
# only when its own process does not hold them already (`upload_records`).
_CLAIM_COLS = _COLS.replace("params,", "params - 'records' AS params,")


async def create(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    kind: str,
    created_by: UUID | None,
    created_by_role: str | None = None,
    total: int = 0,
    status: str = "queued",
    params: dict[str, Any] | None = None,
    max_attempts: int = 3,
) -> Job:
    """A new job; `status="queued"` puts it on the queue for any worker."""
    row = await conn.fetchrow(
        f"INSERT INTO job (id, agency_id, kind, status, created_by, created_by_role, total, "
        f"params, max_attempts, started_at) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
        f"CASE WHEN $4 = 'running' THEN now() END) RETURNING {_STATUS_COLS}",
        uuid4(),
        agency_id,
        kind,
        status,
        created_by,
        created_by_role,
        total,
        params or {},
        max_attempts,
    )
    return Job(**dict(row))


async def claim(
    conn: asyncpg.Connection, *, worker: str, kinds: list[str], model: str | None = None
) -> Job | None:
    """Take the oldest queued job of the given kinds; concurrent workers skip each other's.

    A job with `params.requires_model` is only taken by a worker running that embedding model
    (during a model switch, old and new replicas share the queue).
    """
    row = await conn.fetchrow(
        f"""
        UPDATE job SET status = 'running', claimed_by = $1, attempts = attempts + 1,
            started_at = coalesce(started_at, now()), heartbeat_at = now()
        WHERE id = (
            SELECT id FROM job WHERE status = 'queued' AND kind = ANY($2::text[])
              AND (params->>'requires_model' IS NULL OR params->>'requires_model' = $3)
            ORDER BY created_at, id FOR UPDATE SKIP LOCKED LIMIT 1
        )
        RETURNING {_CLAIM_COLS}
        """,
        worker,
        kinds,
        model,
    )
    return Job(**dict(row)) if row else None


async def upload_records(conn: asyncpg.Connection, *, agency_id: UUID, job_id: UUID) -> list[Any]:
    """The records an import job was queued with ([] once it finished: they go with it)."""
    records = await conn.fetchval(
        "SELECT params->'records' FROM job WHERE id = $1 AND agency_id = $2", job_id, agency_id
    )
    return list(records or [])


async def progress(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    job_id: UUID,
    done: int,
    total: int | None = None,
    phase: str | None = None,
) -> bool:
    """Record progress and beat the heart; returns whether cancellation was requested."""
    cancel = await conn.fetchval(
        "UPDATE job SET done = $2, total = coalesce($3, total), phase = coalesce($4, phase), "
        "heartbeat_at = now() WHERE id = $1 AND agency_id = $5 RETURNING cancel_requested",
        job_id,
        done,
        total,
        phase,
        agency_id,
    )
    return bool(cancel)


async def cancel_requested(conn: asyncpg.Connection, *, agency_id: UUID, job_id: UUID) -> bool:
    """Lock the job's row until the transaction ends and say whether cancel was asked: what the
    transaction then writes is either all before a cancel, or the cancel waits for it."""
    return bool(
        await conn.fetchval(
            "SELECT cancel_requested FROM job WHERE id = $1 AND agency_id = $2 FOR UPDATE",
            job_id,
            agency_id,
        )
    )


async def checkpoint(
    conn: asyncpg.Connection, *, agency_id: UUID, job_id: UUID, done: int, result: dict[str, Any]
) -> None:
    """Progress and partial result, written in the transaction of the work they describe, so
    that a job resumed after a crash knows exactly what was done."""
    await conn.execute(
        "UPDATE job SET done = $2, result = $3, heartbeat_at = now() "
        "WHERE id = $1 AND agency_id = $4",
        job_id,
        done,
        result,
        agency_id,
    )


async def finish(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    job_id: UUID,
    status: str,
    done: int | None = None,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> Job:
    row = await conn.fetchrow(
        # params go: an import's records must not outlive it (nor an erasure)
        f"UPDATE job SET status = $2, done = coalesce($3, done), result = coalesce($4, result), "
        f"error = $5, params = '{{}}'::jsonb, finished_at = now(), heartbeat_at = now() "
        f"WHERE id = $1 AND agency_id = $6 RETURNING {_COLS}",
        job_id,
        status,
        done,
        result,
        error,
        agency_id,
    )
    return Job(**dict(row))


async def request_cancel(conn: asyncpg.Connection, *, agency_id: UUID, job_id: UUID) -> Job | None:
    """A queued job is cancelled at once; a running one when its worker next reports progress."""
    row = await conn.fetchrow(
        f"""
        UPDATE job SET cancel_requested = true,
            status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
            finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END
        WHERE id = $1 AND agency_id = $2 RETURNING {_STATUS_COLS}
        """,
        job_id,
        agency_id,
    )
    return Job(**dict(row)) if row else None


async def reap_stale(conn: asyncpg.Connection, *, stale_seconds: float) -> list[UUID]:
    """Jobs whose worker stopped beating: back on the queue while attempts remain, else failed.

    Nothing stays "running" forever when a worker process dies.
    """
    rows = await conn.fetch(
        """
        UPDATE job SET
            status = CASE WHEN attempts < max_attempts AND NOT cancel_requested THEN 'queued'
                          WHEN cancel_requested THEN 'cancelled' ELSE 'failed' END,
            error = CASE WHEN attempts < max_attempts AND NOT cancel_requested THEN error
                         ELSE 'the worker stopped responding' END,
            finished_at = CASE WHEN attempts < max_attempts AND NOT cancel_requested THEN NULL
                               ELSE now() END,
            claimed_by = NULL
        WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => $1)
        RETURNING id
        """,
        stale_seconds,
    )
    return [r["id"] for r in rows]


async def get(conn: asyncpg.Connection, *, agency_id: UUID, job_id: UUID) -> Job | None:
    row = await conn.fetchrow(
        f"SELECT {_STATUS_COLS} FROM job WHERE id = $1 AND agency_id = $2", job_id, agency_id
    )
    return Job(**dict(row)) if row else None


async def page(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    role: str | None,
    limit: int,
    before: tuple[datetime, UUID] | None,
    kind: str | None = None,
    status: str | None = None,
    created_by: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Job]:
    """An agency's jobs, newest first (keyset over (created_at, id)); `limit + 1` rows.

    `role` given: only the jobs that role started, and those no role started (the service's
    own); None: every job (an admin's view).
    """
    rows = await conn.fetch(
        f"SELECT {_STATUS_COLS} FROM job WHERE agency_id = $1 "
        "AND ($2::text IS NULL OR created_by_role IS NULL OR created_by_role = $2) "
        "AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid)) "
        "AND ($5::text IS NULL OR kind = $5) AND ($6::text IS NULL OR status = $6) "
        "AND ($7::uuid IS NULL OR created_by = $7) "
        "AND ($8::timestamptz IS NULL OR created_at >= $8) "
        "AND ($9::timestamptz IS NULL OR created_at < $9) "
        "ORDER BY created_at DESC, id DESC LIMIT $10",
        agency_id,
        role,
        before[0] if before else None,
        before[1] if before else None,
        kind,
        status,
        created_by,
        since,
        until,
        limit + 1,
    )
    return [Job(**dict(r)) for r in rows]


async def pending_of_kind(conn: asyncpg.Connection, *, agency_id: UUID, kind: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM job WHERE agency_id = $1 AND kind = $2 "
            "AND status IN ('queued', 'running'))",
            agency_id,
            kind,
        )
    )


async def lock_kind(conn: asyncpg.Connection, *, kind: str) -> None:
    """Hold, until the transaction ends, the lock that serialises the periodic check of a
    kind across every worker process."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('jobmatch.periodic'), hashtext($1))", kind
    )


async def enqueue_periodic(
    conn: asyncpg.Connection,
    *,
    kind: str,
    every_seconds: float,
    agency_ids: list[UUID] | None,
    max_attempts: int,
) -> list[UUID]:
    """Queue a job of `kind` for each agency (of `agency_ids`, or all) with none of that kind
    queued or running and none finished in the last `every_seconds`; the agencies queued.
    Run under `lock_kind`: the statement's snapshot then sees every earlier check's jobs."""
    rows = await conn.fetch(
        """
        INSERT INTO job (id, agency_id, kind, status, total, params, max_attempts)
        SELECT gen_random_uuid(), a.id, $1, 'queued', 0, '{}'::jsonb, $4
        FROM agency a
        WHERE ($3::uuid[] IS NULL OR a.id = ANY($3::uuid[]))
          AND NOT EXISTS (
            SELECT 1 FROM job j WHERE j.agency_id = a.id AND j.kind = $1
              AND (j.status IN ('queued', 'running')
                   OR j.finished_at > now() - make_interval(secs => $2)))
        RETURNING agency_id
        """,
        kind,
        every_seconds,
        agency_ids,
        max_attempts,
    )
    return [r["agency_id"] for r in rows]
