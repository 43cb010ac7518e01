"""Bulk import: NDJSON or a JSON array; valid records are stored, bad ones reported per record."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg
import numpy as np
import orjson

from service.auth.permissions import Principal, Role
from service.background_jobs import repository as jobs_db
from service.background_jobs.schemas import JobStatus, RecordError, job_out
from service.kit.problems import FieldError, ProblemError, validation_problem
from service.kit.schemas import NOT_BLANK, STORED, storable
from service.records import repository as db
from service.records import service as records
from service.records.repository import Kind
from service.records.schemas import PostingIn, SeekerIn
from service.state import AppState

_CHUNK = 1024  # records per embedding batch and per transaction


def parse_upload(raw: bytes, content_type: str) -> list[Any]:
    """Records from an NDJSON or JSON-array body; a line that is not JSON becomes an error item."""
    text = raw.strip()
    if not re.search(NOT_BLANK, raw.decode("utf-8", "replace")):  # only whitespace, any kind
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
    # Kept in the job's report: only what PostgreSQL can store, and not a novel's worth.
    return value[:200] if isinstance(value, str) and storable(value) else None


def validate_upload(
    state: AppState, kind: Kind, items: list[Any]
) -> tuple[list[tuple[int, records.Body]], list[RecordError]]:
    """Per-record validation (at once, in the request): the valid records and the errors."""
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
    return valid, errors


async def store_upload(
    state: AppState,
    principal: Principal,
    kind: Kind,
    valid: list[tuple[int, records.Body]],
    errors: list[RecordError],
    progress: Any = None,
) -> dict[str, Any]:
    """Embed and store the valid records in batches; records whose external_id is taken by
    then are reported, not stored."""
    async with state.pool.acquire() as conn:
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
            fresh.append((index, body))
    created = 0
    total = len(valid) + len(errors)
    chunks = [fresh[start : start + _CHUNK] for start in range(0, len(fresh), _CHUNK)]
    # A pipeline: while chunk n is written to the database (on the event loop, with PostgreSQL
    # updating the HNSW index), the model thread already embeds chunk n+1, so the model
    # never waits for the database.
    loop = asyncio.get_running_loop()

    def embed(chunk: list[tuple[int, records.Body]]) -> asyncio.Future[np.ndarray]:
        bodies = [b for _, b in chunk]
        return loop.run_in_executor(state.model_executor, _vectors, state, kind, bodies)

    pending = embed(chunks[0]) if chunks else None
    try:
        for n, chunk in enumerate(chunks):
            assert pending is not None
            vectors = await pending
            pending = embed(chunks[n + 1]) if n + 1 < len(chunks) else None
            created += await _write_chunk(state, principal, kind, chunk, vectors, errors)
            if progress is not None:
                await progress(created + len(errors), total, "storing")
    finally:
        if pending is not None:  # cancelled or failed midway: the next chunk's vectors go unused
            pending.cancel()
    errors.sort(key=lambda e: e.index)
    return {"created": created, "failed": len(errors), "errors": [e.model_dump() for e in errors]}


def _vectors(state: AppState, kind: Kind, bodies: list[records.Body]) -> np.ndarray:
    """Canonical texts and their vectors, and what the texts say (`records.understand`); runs on
    the model thread, off the event loop."""
    vectors = state.embedder.encode([records.canonical_text(kind, b) for b in bodies])
    records.understand(state, kind, bodies, vectors)
    return vectors


async def _write_chunk(
    state: AppState,
    principal: Principal,
    kind: Kind,
    chunk: list[tuple[int, records.Body]],
    vectors: np.ndarray,
    errors: list[RecordError],
) -> int:
    """Store an embedded chunk in one transaction; how many records were created."""
    try:
        await records.store_batch(state, principal, kind, [b for _, b in chunk], vectors)
        return len(chunk)
    except asyncpg.UniqueViolationError:  # a record written meanwhile: store one by one
        created = 0
        for row, (index, body) in enumerate(chunk):
            try:
                await records.store_batch(state, principal, kind, [body], vectors[row : row + 1])
                created += 1
            except asyncpg.UniqueViolationError:
                errors.append(_dup(index, body.external_id, "already exists in your agency"))
        return created


def _principal_of(job: jobs_db.Job) -> Principal:
    assert job.created_by is not None and job.created_by_role is not None
    return Principal(key_id=job.created_by, agency_id=job.agency_id, role=Role(job.created_by_role))


async def import_job(state: AppState, job: jobs_db.Job, progress: Any) -> dict[str, Any]:
    kind: Kind = "seeker" if job.kind == "seeker_import" else "posting"
    # Validated in the request that queued the job: rebuilt here without the input checks.
    model = SeekerIn if kind == "seeker" else PostingIn
    valid = [(i, model.model_validate(item, context=STORED)) for i, item in job.params["records"]]
    errors = [RecordError(**e) for e in job.params["errors"]]
    return await store_upload(state, _principal_of(job), kind, valid, errors, progress)


async def import_records(
    state: AppState, principal: Principal, kind: Kind, items: list[Any]
) -> tuple[JobStatus, bool]:
    """Validate now, queue the import, and wait up to `bulk_wait_seconds` for it to finish.

    Returns the job and whether it finished; an unfinished job is polled at GET /v1/jobs/{id}.
    """
    valid, errors = validate_upload(state, kind, items)
    async with state.pool.acquire() as conn:
        job = await jobs_db.create(
            conn,
            agency_id=principal.agency_id,
            kind=f"{kind}_import",
            created_by=principal.key_id,
            created_by_role=principal.role.value,
            total=len(items),
            params={
                "records": [(i, b.model_dump(mode="json")) for i, b in valid],
                "errors": [e.model_dump() for e in errors],
            },
        )
    deadline = asyncio.get_running_loop().time() + state.settings.bulk_wait_seconds
    while True:
        async with state.pool.acquire() as conn:
            current = await jobs_db.get(conn, agency_id=principal.agency_id, job_id=job.id)
        assert current is not None
        finished = current.status in ("succeeded", "failed", "cancelled")
        if finished or asyncio.get_running_loop().time() >= deadline:
            return job_out(current), finished
        await asyncio.sleep(0.1)


async def import_now(
    state: AppState, principal: Principal, kind: Kind, items: list[Any]
) -> dict[str, Any]:
    """Import in this process without the queue (the demo loads its data before serving)."""
    valid, errors = validate_upload(state, kind, items)
    return await store_upload(state, principal, kind, valid, errors)


def _dup(index: int, external_id: str, why: str) -> RecordError:
    return RecordError(
        index=index,
        external_id=external_id,
        errors=[{"field": "external_id", "message": f"{external_id!r} {why}"}],
    )
