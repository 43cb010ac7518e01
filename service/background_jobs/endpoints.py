"""Background job status and cancellation."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from service.auth.dependencies import State, authorize, parse_id
from service.auth.permissions import Principal
from service.background_jobs import service as jobs
from service.background_jobs.schemas import JobPage, JobState, JobStatus, job_json, job_out
from service.kit.http import API_V1, Cursor, Limit, Timestamp, problems

router = APIRouter(prefix=API_V1, tags=["jobs"])
Reader = Annotated[Principal, Depends(authorize("jobs:read"))]


@router.get("/jobs", response_model=JobPage, responses=problems(422), operation_id="list_jobs")
async def list_jobs(
    state: State,
    principal: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    kind: Annotated[
        str | None, Query(pattern=r"^[a-z_]{1,50}$", description="e.g. seeker_import")
    ] = None,
    status: JobState | None = None,
    created_by: Annotated[UUID | None, Query(description="API key id")] = None,
    from_: Annotated[
        Timestamp | None, Query(alias="from", description="created at or after")
    ] = None,
    to: Annotated[Timestamp | None, Query(description="created before")] = None,
) -> JobPage:
    """Jobs you may see, newest first: an admin every job of the agency, other roles the jobs
    their role started (and the service's own). Find a job whose answer you never got here."""
    jobs_, next_cursor = await jobs.page(
        state.pool,
        principal,
        limit=limit,
        cursor=cursor,
        kind=kind,
        status=status,
        created_by=created_by,
        since=from_,
        until=to,
    )
    return JobPage(items=[job_out(j) for j in jobs_], next_cursor=next_cursor)


@router.get(
    "/jobs/{job_id}", response_model=JobStatus, responses=problems(404), operation_id="get_job"
)
async def get_job(job_id: str, state: State, principal: Reader) -> Response:
    """Status and progress (done / total, phase) of a job, with its result or error."""
    job = await jobs.get_visible(state.pool, principal, parse_id(job_id, "job"))
    return Response(job_json(job), media_type="application/json")


@router.post(
    "/jobs/{job_id}:cancel",
    response_model=JobStatus,
    responses=problems(404),
    operation_id="cancel_job",
)
async def cancel_job(job_id: str, state: State, principal: Reader) -> JobStatus:
    """Cancel a job: a queued one at once, a running one at its next progress report."""
    return job_out(await jobs.cancel(state.pool, principal, parse_id(job_id, "job")))
