"""Background job status and cancellation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from service.api.common import problems
from service.auth import Principal, Role
from service.bulk import job_out
from service.db import jobs as jobs_db
from service.deps import State, authorize, parse_id
from service.errors import not_found
from service.schemas import JobStatus

router = APIRouter(tags=["jobs"])
Reader = Annotated[Principal, Depends(authorize("jobs:read"))]


def _visible(job: jobs_db.Job | None, principal: Principal) -> jobs_db.Job:
    # A job belongs to the role that started it (admins see all of their agency's jobs).
    if job is None or (
        principal.role != Role.admin
        and job.created_by_role is not None
        and job.created_by_role != principal.role.value
    ):
        raise not_found("job")
    return job


@router.get(
    "/v1/jobs/{job_id}", response_model=JobStatus, responses=problems(404), operation_id="get_job"
)
async def get_job(job_id: str, state: State, principal: Reader) -> JobStatus:
    """Status and progress (done / total, phase) of a job, with its result or error."""
    async with state.pool.acquire() as conn:
        job = await jobs_db.get(conn, agency_id=principal.agency_id, job_id=parse_id(job_id, "job"))
    return job_out(_visible(job, principal))


@router.post(
    "/v1/jobs/{job_id}:cancel",
    response_model=JobStatus,
    responses=problems(404),
    operation_id="cancel_job",
)
async def cancel_job(job_id: str, state: State, principal: Reader) -> JobStatus:
    """Cancel a job: a queued one at once, a running one at its next progress report."""
    jid = parse_id(job_id, "job")
    async with state.pool.acquire() as conn:
        _visible(await jobs_db.get(conn, agency_id=principal.agency_id, job_id=jid), principal)
        job = await jobs_db.request_cancel(conn, agency_id=principal.agency_id, job_id=jid)
    return job_out(_visible(job, principal))
