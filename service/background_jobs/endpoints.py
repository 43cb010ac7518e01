"""Background job status and cancellation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from service.auth.dependencies import State, authorize, parse_id
from service.auth.permissions import Principal
from service.background_jobs import service as jobs
from service.background_jobs.schemas import JobStatus, job_out
from service.kit.http import API_V1, problems

router = APIRouter(prefix=API_V1, tags=["jobs"])
Reader = Annotated[Principal, Depends(authorize("jobs:read"))]


@router.get(
    "/jobs/{job_id}", response_model=JobStatus, responses=problems(404), operation_id="get_job"
)
async def get_job(job_id: str, state: State, principal: Reader) -> JobStatus:
    """Status and progress (done / total, phase) of a job, with its result or error."""
    return job_out(await jobs.get_visible(state.pool, principal, parse_id(job_id, "job")))


@router.post(
    "/jobs/{job_id}:cancel",
    response_model=JobStatus,
    responses=problems(404),
    operation_id="cancel_job",
)
async def cancel_job(job_id: str, state: State, principal: Reader) -> JobStatus:
    """Cancel a job: a queued one at once, a running one at its next progress report."""
    return job_out(await jobs.cancel(state.pool, principal, parse_id(job_id, "job")))
