"""Background jobs as users see them: a job belongs to the role that started it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from service.auth.permissions import Principal, Role
from service.background_jobs import repository as jobs_db
from service.background_jobs.repository import Job
from service.kit.pagination import decode_cursor, encode_key, split_page
from service.kit.problems import not_found


def _visible(job: Job | None, principal: Principal) -> Job:
    # Admins see every job of their agency; other roles only the jobs their role started.
    if job is None or (
        principal.role != Role.admin
        and job.created_by_role is not None
        and job.created_by_role != principal.role.value
    ):
        raise not_found("job")
    return job


async def get_visible(pool: asyncpg.Pool, principal: Principal, job_id: UUID) -> Job:
    async with pool.acquire() as conn:
        job = await jobs_db.get(conn, agency_id=principal.agency_id, job_id=job_id)
    return _visible(job, principal)


async def cancel(pool: asyncpg.Pool, principal: Principal, job_id: UUID) -> Job:
    """A queued job is cancelled at once, a running one at its next progress report."""
    async with pool.acquire() as conn:
        _visible(await jobs_db.get(conn, agency_id=principal.agency_id, job_id=job_id), principal)
        job = await jobs_db.request_cancel(conn, agency_id=principal.agency_id, job_id=job_id)
    return _visible(job, principal)


async def page(
    pool: asyncpg.Pool,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    kind: str | None,
    status: str | None,
    created_by: UUID | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[Job], str | None]:
    """The jobs the principal may see (as `_visible`), newest first, and the next cursor."""
    async with pool.acquire() as conn:
        rows = await jobs_db.page(
            conn,
            agency_id=principal.agency_id,
            role=None if principal.role == Role.admin else principal.role.value,
            limit=limit,
            before=decode_cursor(cursor) if cursor else None,
            kind=kind,
            status=status,
            created_by=created_by,
            since=since,
            until=until,
        )
    return split_page(rows, limit, lambda j: encode_key(j.created_at, j.id))
