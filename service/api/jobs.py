"""Background job status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from service.api.common import problems
from service.auth import Principal
from service.bulk import job_out
from service.db import jobs as jobs_db
from service.deps import State, authorize, parse_id
from service.errors import not_found
from service.schemas import ImportJob

router = APIRouter(tags=["jobs"])


@router.get(
    "/v1/jobs/{job_id}", response_model=ImportJob, responses=problems(404), operation_id="get_job"
)
async def get_job(
    job_id: str, state: State, principal: Annotated[Principal, Depends(authorize("jobs:read"))]
) -> ImportJob:
    """Status and progress (done / total) of a job, with per-record errors of an import."""
    async with state.pool.acquire() as conn:
        job = await jobs_db.get(conn, agency_id=principal.agency_id, job_id=parse_id(job_id, "job"))
    if job is None:
        raise not_found("job")
    return job_out(job)
