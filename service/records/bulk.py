"""Bulk import: NDJSON or a JSON array; valid records are stored, bad ones reported per record."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import numpy as np
import orjson

from service.auth.permissions import Principal, Role
from service.background_jobs import repository as jobs_db
from service.background_jobs import service as jobs
from service.background_jobs.schemas import JobStatus, RecordError, job_out
from service.background_jobs.worker import JobCancelled
from service.kit.problems import FieldError, ProblemError, validation_problem
from service.kit.schemas import NOT_BLANK, STORED, storable
from service.records import preparation
from service.records import service as records
from service.records.preparation import Body
from service.records.repository import Kind
from service.records.schemas import PostingIn, SeekerIn
from service.state import AppState

# Records per embedding batch and per transaction; also how far a cancel or a crash may be from
# a checkpoint, and the step in which an import's progress moves.
_CHUNK = 256
# The last records go in smaller chunks: once the encoder has made the last vectors it waits
# for the next upload while the last chunk is understood and stored, so that chunk is kept short.
_LAST_CHUNK = 64

# Validated uploads a process keeps for its own worker (AppState.validated_uploads): more
# would only be waiting behind a queue, and another process's worker may take them.
_UPLOADS_KEPT = 2

_Item = TypeVar("_Item")


@dataclass
class ValidatedUpload:
    """An upload that a request of this process validated, kept for this process's worker
    (AppState.validated_uploads), with its first chunk already being embedded and understood:
    the model works while the job is written and claimed instead of waiting for both."""

    records: Sequence[tuple[int, Body]]
    first_chunk: asyncio.Task[np.ndarray] | None = None

    def let_go(self) -> None:
        """Not to be imported here after all: its first chunk's work is not wanted."""
        task = self.first_chunk
        if task is None:
            return
        if task.done() and not task.cancelled():
            task.exception()  # a failure nobody will act on: read, so that asyncio does not log it
        task.cancel()


def start_first_chunk(
    state: AppState, kind: Kind, valid: Sequence[tuple[int, Body]]
) -> ValidatedUpload:
    """Keepable `valid` records, their first chunk (as `store_upload` will cut it) already
    sent to the model."""
    chunks = _chunks(valid)
    if not chunks:
        return ValidatedUpload(valid)
    bodies = [body for _, body in chunks[0]]
    return ValidatedUpload(
        valid, asyncio.ensure_future(preparation.embed_and_understand(state, kind, bodies))
    )


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
) -> tuple[list[tuple[int, Body]], list[RecordError]]:
    """Per-record validation (at once, in the request): the valid records and the errors."""
    limit = state.settings.bulk_max_records
    if len(items) > limit:
        raise ProblemError(
            413, "Content too large", f"An upload holds at most {limit} records; split it."
        )
    errors: list[RecordError] = []
    valid: list[tuple[int, Body]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if isinstance(item, _BadLine):
            errors.append(
                RecordError(index=index, errors=[{"field": "", "message": "line is not JSON"}])
            )
            continue
        try:
            body = preparation.parse_body(kind, item, loc=())
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
    valid: Sequence[tuple[int, Body | dict[str, Any]]],
    errors: list[RecordError],
    job: jobs_db.Job | None = None,
    first_chunk: asyncio.Task[np.ndarray] | None = None,
) -> dict[str, Any]:
    """Embed and store the valid records in chunks; records whose external_id is taken by then
    are reported, not stored. `first_chunk` is the vectors of the first chunk's records when
    they were sent to the model already (`start_first_chunk`).

    Within a `job`, each chunk is written in one transaction with the job's progress and
    partial result (a checkpoint): counts always equal what is stored, a job resumed after a
    crash continues after its last stored chunk, and a cancel takes effect between two chunks
    (what was stored before it stays, and is counted). Raises JobCancelled with that result.
    """
    checkpoint: dict[str, Any] = (job.result.get("checkpoint") or {}) if job else {}
    created = int(checkpoint.get("created", 0))
    duplicates = [RecordError(**e) for e in checkpoint.get("duplicates", [])]
    warned: list[dict[str, Any]] = list(job.result.get("warnings") or []) if job else []
    start = int(checkpoint.get("next_index", 0))
    remaining = [(i, b) for i, b in valid if i >= start]
    total = len(valid) + len(errors)
    chunks = _chunks(remaining)

    def result(**extra: Any) -> dict[str, Any]:
        failed = sorted([*errors, *duplicates], key=lambda e: e.index)
        return {
            "created": created,
            "failed": len(failed),
            "errors": [e.model_dump() for e in failed],
            "warnings": warned,
            **extra,
        }

    # A pipeline of three stages on their own threads: while chunk n is written to the
    # database (on the event loop, with PostgreSQL updating the HNSW index), the understanding
    # thread reads chunk n+1's text and the model thread already encodes chunk n+2, so
    # neither the model nor the database waits for the text understanding. A job's records
    # are rebuilt as their chunk enters the pipeline, so the model starts on the first chunk
    # instead of waiting for the whole upload.
    preparing: dict[int, tuple[list[tuple[int, Body]], asyncio.Task[np.ndarray]]] = {}

    def prepare(n: int, sent: asyncio.Task[np.ndarray] | None = None) -> None:
        if n < len(chunks) and n not in preparing:
            chunk = [(i, _body(kind, item)) for i, item in chunks[n]]
            bodies = [b for _, b in chunk]
            task = sent or asyncio.ensure_future(
                preparation.embed_and_understand(state, kind, bodies)
            )
            preparing[n] = (chunk, task)

    if first_chunk is not None and start > 0:  # resumed: that chunk is stored already
        first_chunk.cancel()
        first_chunk = None
    prepare(0, first_chunk)
    prepare(1)
    try:
        for n in range(len(chunks)):
            chunk, preparation_task = preparing.pop(n)
            vectors = await preparation_task
            prepare(n + 2)
            next_index = chunks[n + 1][0][0] if n + 1 < len(chunks) else total
            found: list[RecordError] = []
            # What a single write would have warned about (looked up off the event loop):
            # reported for the records that are stored, in the same checkpoint.
            warnings = await asyncio.to_thread(_warnings, chunk)
            warned_now: list[dict[str, Any]] = []

            async def before(conn: asyncpg.Connection) -> bool:
                assert job is not None
                return not await jobs_db.cancel_requested(
                    conn, agency_id=job.agency_id, job_id=job.id
                )

            async def after(
                conn: asyncpg.Connection,
                ids: list[UUID | None],
                chunk: list[tuple[int, Body]] = chunk,
                next_index: int = next_index,
                found: list[RecordError] = found,
                created: int = created,
                warnings: dict[int, dict[str, Any]] = warnings,
                warned_now: list[dict[str, Any]] = warned_now,
            ) -> None:
                found.extend(
                    _dup(index, body.external_id, "already exists in your agency")
                    for (index, body), rid in zip(chunk, ids, strict=True)
                    if rid is None
                )
                warned_now.extend(
                    warnings[index]
                    for (index, _), rid in zip(chunk, ids, strict=True)
                    if rid is not None and index in warnings
                )
                if job is None:
                    return
                stored = created + sum(rid is not None for rid in ids)
                kept = [*duplicates, *found]
                await jobs_db.checkpoint(
                    conn,
                    agency_id=job.agency_id,
                    job_id=job.id,
                    done=stored + len(errors) + len(kept),
                    result={
                        "created": stored,
                        "failed": len(errors) + len(kept),
                        "warnings": [*warned, *warned_now],
                        "checkpoint": {
                            "created": stored,
                            "next_index": next_index,
                            "duplicates": [e.model_dump() for e in kept],
                        },
                    },
                )

            ids = await records.store_batch(
                state,
                principal,
                kind,
                [b for _, b in chunk],
                vectors,
                before=before if job is not None else None,
                after=after,
            )
            if ids is None:  # cancelled before this chunk: nothing of it was stored
                raise JobCancelled(result(not_imported=sum(len(c) for c in chunks[n:])))
            created += sum(rid is not None for rid in ids)
            duplicates.extend(found)
            warned.extend(warned_now)
    finally:
        for _, pending in preparing.values():  # cancelled or failed midway: these go unused
            pending.cancel()
    if job is not None:
        async with state.pool.acquire() as conn:
            await jobs_db.checkpoint(
                conn, agency_id=job.agency_id, job_id=job.id, done=total, result=result()
            )
    return result()


def _warnings(chunk: list[tuple[int, Body]]) -> dict[int, dict[str, Any]]:
    """By upload position, the warnings of the records that have some."""
    out = {}
    for index, body in chunk:
        found = preparation.write_warnings(body)
        if found:
            out[index] = {
                "index": index,
                "external_id": body.external_id,
                "warnings": [w.model_dump() for w in found],
            }
    return out


def _body(kind: Kind, item: Body | dict[str, Any]) -> Body:
    """A record of an upload: validated already, or as a job stored it after the request
    validated it (rebuilt without the input checks)."""
    if isinstance(item, dict):
        model = SeekerIn if kind == "seeker" else PostingIn
        return model.model_validate(item, context=STORED)
    return item


def _chunks(records: Sequence[_Item]) -> list[Sequence[_Item]]:
    """`records` in chunks of `_CHUNK`; what is left after the last full one that is not the
    end (at most `_CHUNK` records) in chunks of `_LAST_CHUNK`."""
    tail = (len(records) - 1) // _CHUNK * _CHUNK if records else 0
    return [records[at : at + _CHUNK] for at in range(0, tail, _CHUNK)] + [
        records[at : at + _LAST_CHUNK] for at in range(tail, len(records), _LAST_CHUNK)
    ]


def _principal_of(job: jobs_db.Job) -> Principal:
    assert job.created_by is not None and job.created_by_role is not None
    return Principal(key_id=job.created_by, agency_id=job.agency_id, role=Role(job.created_by_role))


async def import_job(state: AppState, job: jobs_db.Job, progress: Any) -> dict[str, Any]:
    kind: Kind = "seeker" if job.kind == "seeker_import" else "posting"
    # Validated in the request that queued the job: kept by this process, or rebuilt chunk by
    # chunk by store_upload from what the job stored.
    kept = state.validated_uploads.pop(job.id, None)
    valid: Sequence[tuple[int, Body | dict[str, Any]]]
    if kept is not None:
        valid = kept.records
    else:
        async with state.pool.acquire() as conn:
            stored = await jobs_db.upload_records(conn, agency_id=job.agency_id, job_id=job.id)
        valid = [(i, item) for i, item in stored]
    errors = [RecordError(**e) for e in job.params["errors"]]
    return await store_upload(
        state,
        _principal_of(job),
        kind,
        valid,
        errors,
        job,
        first_chunk=kept.first_chunk if kept is not None else None,
    )


async def import_records(
    state: AppState,
    principal: Principal,
    kind: Kind,
    items: list[Any],
    on_queued: Callable[[UUID], Awaitable[None]] | None = None,
) -> tuple[JobStatus, bool]:
    """Validate now, queue the import, and wait for it to finish: up to `bulk_wait_seconds`
    for an upload of at most `bulk_sync_max_records` records, not at all for a larger one.

    Returns the job and whether it finished; an unfinished job is polled at GET /v1/jobs/{id}.
    `on_queued` is told the job's id as soon as it exists (an idempotent request notes it).
    """
    valid, errors = validate_upload(state, kind, items)
    # The model starts on the records while the job is written (in PostgreSQL, mostly). No
    # worker of this process, no start: another process's worker will take the job.
    upload = start_first_chunk(state, kind, valid) if state.settings.run_worker else None
    try:
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
    except BaseException:
        if upload is not None:
            upload.let_go()
        raise
    if upload is not None:
        keep_validated(state.validated_uploads, job.id, upload)
    state.job_queued.set()
    if on_queued is not None:
        await on_queued(job.id)
    s = state.settings
    wait = s.bulk_wait_seconds if len(items) <= s.bulk_sync_max_records else 0.0
    return await _wait_for(state, principal, job.id, wait)


def keep_validated(
    kept: dict[UUID, ValidatedUpload], job_id: UUID, upload: ValidatedUpload
) -> None:
    """Keep an upload's validated records for this process's worker; the oldest go first."""
    kept[job_id] = upload
    while len(kept) > _UPLOADS_KEPT:
        kept.pop(next(iter(kept))).let_go()


async def existing_job(
    state: AppState, principal: Principal, location: str
) -> tuple[JobStatus, bool]:
    """The import a retried request (same Idempotency-Key) queued already (its `location`,
    /v1/jobs/{id}), as it is now."""
    return await _wait_for(state, principal, UUID(location.rsplit("/", 1)[-1]), 0.0)


async def _wait_for(
    state: AppState, principal: Principal, job_id: UUID, wait_s: float
) -> tuple[JobStatus, bool]:
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        current = await jobs.get_visible(state.pool, principal, job_id)
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
