"""Background jobs and their progress (bulk imports today)."""

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
    total: int
    done: int
    result: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None


_COLS = "id, agency_id, kind, status, created_by, total, done, result, created_at, finished_at"


async def create(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    kind: str,
    created_by: UUID | None,
    total: int,
    status: str = "running",
) -> Job:
    row = await conn.fetchrow(
        f"INSERT INTO job (id, agency_id, kind, status, created_by, total) "
        f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLS}",
        uuid4(),
        agency_id,
        kind,
        status,
        created_by,
        total,
    )
    return Job(**dict(row))


async def progress(conn: asyncpg.Connection, *, job_id: UUID, done: int) -> None:
    await conn.execute("UPDATE job SET done = $2 WHERE id = $1", job_id, done)


async def finish(
    conn: asyncpg.Connection, *, job_id: UUID, status: str, done: int, result: dict[str, Any]
) -> Job:
    row = await conn.fetchrow(
        f"UPDATE job SET status = $2, done = $3, result = $4, finished_at = now() "
        f"WHERE id = $1 RETURNING {_COLS}",
        job_id,
        status,
        done,
        result,
    )
    return Job(**dict(row))


async def get(conn: asyncpg.Connection, *, agency_id: UUID, job_id: UUID) -> Job | None:
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM job WHERE id = $1 AND agency_id = $2", job_id, agency_id
    )
    return Job(**dict(row)) if row else None
