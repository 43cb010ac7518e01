"""Background jobs as users see them: a job belongs to the role that started it."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from service.auth.permissions import Principal, Role
from service.background_jobs import repository as jobs_db
from service.background_jobs.repository import Job
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
