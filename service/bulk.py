"""Bulk import: NDJSON or a JSON array; valid records are stored, bad ones reported per record."""

from __future__ import annotations

from typing import Any

import orjson

from service import records
from service.auth import Principal
from service.db import jobs as jobs_db
from service.db import records as db
from service.db.records import Kind
from service.errors import FieldError, ProblemError, validation_problem
from service.schemas import ImportJob, JobStatus, RecordError
from service.state import AppState

_CHUNK = 256  # records per embedding batch and per transaction


def parse_upload(raw: bytes, content_type: str) -> list[Any]:
    """Records from an NDJSON or JSON-array body; a line that is not JSON becomes an error item."""
    text = raw.strip()
    if not text:
        raise validation_problem([FieldError(field="body", message="the upload is empty")])
    if "ndjson" not in content_type and (text[:1] == b"[" or "json" in content_type):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise validation_problem(
                [FieldError(field="body", message=f"not valid JSON: {exc}")]
            ) from None
        if not isinstance(data, list):
            raise validation_problem([FieldError(field="body", message="expected a JSON array")])
        wrong = [
            FieldError(field=f"body.{i}", message="expected a JSON object")
            for i, item in enumerate(data)
            if not isinstance(item, dict)
        ]
        if wrong:
            raise validation_problem(wrong[:100])
        return data
    items: list[Any] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            items.append(_BadLine())
    return items


class _BadLine:
    """Marks an NDJSON line that is not JSON, so its position is reported."""


def _external_id(item: Any) -> str | None:
    value = item.get("external_id") if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


async def import_records(
    state: AppState, principal: Principal, kind: Kind, items: list[Any]
) -> ImportJob:
    limit = state.settings.bulk_max_records
    if len(items) > limit:
        raise ProblemError(
            413, "Content too large", f"An upload holds at most {limit} records; split it."
        )
    errors: list[RecordError] = []
    valid: list[tuple[int, records.Body]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if isinstance(item, _BadLine):
            errors.append(
                RecordError(index=index, errors=[{"field": "", "message": "line is not JSON"}])
            )
            continue
        try:
            body = records.parse_body(kind, item, loc=())
        except ProblemError as problem:
            errors.append(
                RecordError(
                    index=index,
                    external_id=_external_id(item),
                    errors=[e.model_dump(exclude_none=True) for e in problem.errors or []],
                )
            )
            continue
        if body.external_id in seen:
            errors.append(_dup(index, body.external_id, "appears twice in this upload"))
            continue
        seen.add(body.external_id)
        valid.append((index, body))

    async with state.pool.acquire() as conn:
        job = await jobs_db.create(
            conn,
            agency_id=principal.agency_id,
            kind=f"{kind}_import",
            created_by=principal.key_id,
            created_by_role=principal.role.value,
            total=len(items),
            status="running",
        )
        taken = await db.existing_external_ids(
            conn,
            kind,
            agency_id=principal.agency_id,
            external_ids=[b.external_id for _, b in valid],
        )
    fresh = []
    for index, body in valid:
        if body.external_id in taken:
            errors.append(_dup(index, body.external_id, "already exists in your agency"))
        else:
            fresh.append(body)

    created = 0
    for start in range(0, len(fresh), _CHUNK):
        chunk = fresh[start : start + _CHUNK]
        await records.store_batch(state, principal, kind, chunk)
        created += len(chunk)
        async with state.pool.acquire() as conn:
            await jobs_db.progress(conn, job_id=job.id, done=created + len(errors))

    errors.sort(key=lambda e: e.index)
    result = {"created": created, "failed": len(errors), "errors": [e.model_dump() for e in errors]}
    async with state.pool.acquire() as conn:
        job = await jobs_db.finish(
            conn, job_id=job.id, status="succeeded", done=len(items), result=result
        )
    return job_out(job)


def _dup(index: int, external_id: str, why: str) -> RecordError:
    return RecordError(
        index=index,
        external_id=external_id,
        errors=[{"field": "external_id", "message": f"{external_id!r} {why}"}],
    )


def job_out(job: jobs_db.Job) -> JobStatus:
    return JobStatus(
        id=str(job.id),
        kind=job.kind,
        status=job.status,  # type: ignore[arg-type]
        total=job.total,
        done=job.done,
        created=int(job.result.get("created", 0)),
        failed=int(job.result.get("failed", 0)),
        errors=[RecordError(**e) for e in job.result.get("errors", [])],
        created_at=job.created_at,
        finished_at=job.finished_at,
        phase=job.phase,
        error=job.error,
        cancel_requested=job.cancel_requested,
        result={k: v for k, v in job.result.items() if k not in ("created", "failed", "errors")},
    )
