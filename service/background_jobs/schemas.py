"""Background jobs as the API shows them: status, progress, per-record errors of imports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import orjson
from pydantic import (
    BaseModel,
    Field,
)

from service.background_jobs.repository import Job


class RecordError(BaseModel):
    index: int = Field(description="0-based position of the record in the upload")
    external_id: str | None = None
    errors: list[dict[str, Any]]


class RecordWarning(BaseModel):
    index: int = Field(description="0-based position of the record in the upload")
    external_id: str
    warnings: list[dict[str, Any]] = Field(
        description="As in a single write's answer (field, code, message): stored as sent, "
        "but probably needs attention"
    )


class ImportJob(BaseModel):
    id: UUID
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    total: int
    done: int
    created: int
    failed: int
    errors: list[RecordError]
    warnings: list[RecordWarning] = Field(
        default_factory=list, description="Records stored with warnings (place not found, ...)"
    )
    created_at: datetime
    finished_at: datetime | None = None


class JobStatus(ImportJob):
    """Any background job: status, progress (done / total, phase) and its result."""

    phase: str | None = None
    error: str | None = Field(default=None, description="Why it failed, in plain words")
    cancel_requested: bool = False
    result: dict[str, Any] = Field(default_factory=dict)


JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobPage(BaseModel):
    items: list[JobStatus]
    next_cursor: str | None


def job_out(job: Job) -> JobStatus:
    return JobStatus(
        id=job.id,
        kind=job.kind,
        status=job.status,  # type: ignore[arg-type]
        total=job.total,
        done=job.done,
        created=int(job.result.get("created", 0)),
        failed=int(job.result.get("failed", 0)),
        errors=[RecordError(**e) for e in job.result.get("errors", [])],
        warnings=[RecordWarning(**w) for w in job.result.get("warnings", [])],
        created_at=job.created_at,
        finished_at=job.finished_at,
        phase=job.phase,
        error=job.error,
        cancel_requested=job.cancel_requested,
        result={
            k: v
            for k, v in job.result.items()
            if k not in ("created", "failed", "errors", "warnings", "checkpoint")
        },
    )


def job_json(job: Job) -> bytes:
    """`job_out(job)` as the JSON FastAPI would send for it, with the import's per-record
    errors and warnings copied as stored (validated when written; erasure may since have
    dropped an external id) rather than validated again: a portal polls the status while its
    import runs, and validating thousands of warnings on every poll held the event loop for
    milliseconds, beside the import it waits for."""
    shell = {k: v for k, v in job.result.items() if k not in ("errors", "warnings")}
    body = job_out(job.model_copy(update={"result": shell})).model_dump(mode="json")
    body["errors"] = [
        {"index": e["index"], "external_id": e.get("external_id"), "errors": e["errors"]}
        for e in job.result.get("errors", [])
    ]
    body["warnings"] = [
        {"index": w["index"], "external_id": w["external_id"], "warnings": w["warnings"]}
        for w in job.result.get("warnings", [])
    ]
    return orjson.dumps(body)
