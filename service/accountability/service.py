"""Accountability settings of an agency, and retention: records older than the agency's periods
are deleted by a background job in small batches (each its own short transaction, so requests
never wait on it); the audit log's hash chain is anchored at the retention boundary first, so
what remains still verifies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from service.accountability import repository as settings_db
from service.accountability.repository import RECORD_KINDS, AgencySettings
from service.audit import repository as audit_db
from service.audit import service as auditing
from service.auth.permissions import Principal
from service.background_jobs import repository as jobs_db
from service.background_jobs.repository import Job
from service.background_jobs.worker import Progress
from service.state import AppState

RETENTION_JOB = "apply_retention"
# Rows per delete: small enough that a batch holds its locks for milliseconds. A match list
# takes its items (up to 100) and their decisions with it, hence fewer lists per batch.
RETENTION_BATCH = 500
BATCH_OF = {"match_lists": 50}

_PERIODS = {
    "match_lists": "retention_match_list_days",
    "decisions": "retention_decision_days",
    "outcomes": "retention_outcome_days",
    "jobs": "retention_job_days",
}


async def get_settings(pool: asyncpg.Pool, *, agency_id: UUID) -> AgencySettings:
    async with pool.acquire() as conn:
        return await settings_db.get(conn, agency_id=agency_id)


async def put_settings(
    pool: asyncpg.Pool, principal: Principal, values: AgencySettings
) -> AgencySettings:
    """Replace the settings; the change (which fields, from what to what) is audited, so a
    grant of profile access to auditors is on the record."""
    async with pool.acquire() as conn, conn.transaction():
        before = await settings_db.get(conn, agency_id=principal.agency_id, lock=True)
        await settings_db.put(conn, agency_id=principal.agency_id, values=values)
        changes = {
            k: {"from": v, "to": getattr(values, k)}
            for k, v in before.model_dump().items()
            if getattr(values, k) != v
        }
        if changes:
            await auditing.log(
                conn, principal, "agency_settings.update", subject_type="agency", changes=changes
            )
    return values


async def queue_retention(pool: asyncpg.Pool, principal: Principal) -> Job:
    async with pool.acquire() as conn, conn.transaction():
        job = await jobs_db.create(
            conn,
            agency_id=principal.agency_id,
            kind=RETENTION_JOB,
            created_by=principal.key_id,
            created_by_role=principal.role.value,
            params={"acted_by": principal.acting_person},
            total=len(RECORD_KINDS) + 1,
            max_attempts=3,
        )
        await auditing.log(
            conn, principal, "retention.queue", subject_type="job", subject_id=job.id
        )
    return job


async def apply_retention(state: AppState, job: Job, progress: Progress) -> dict[str, Any]:
    """The job handler (see `retain`)."""
    return await retain(state.pool, job, progress)


async def retain(
    pool: asyncpg.Pool, job: Job, progress: Callable[..., Awaitable[None]]
) -> dict[str, Any]:
    """The retention job: delete the agency's records older than its periods, kind by kind,
    in batches; anchor the audit chain at the boundary, record that in the chain, then delete
    the events before the anchor. Safe to run again after a crash: each step is idempotent."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        periods = await settings_db.get(conn, agency_id=job.agency_id)
    deleted: dict[str, int] = {}
    for step, kind in enumerate(RECORD_KINDS):
        before = now - timedelta(days=getattr(periods, _PERIODS[kind]))
        batch = BATCH_OF.get(kind, RETENTION_BATCH)
        deleted[kind] = await _drain(
            pool,
            lambda conn, kind=kind, before=before, batch=batch: settings_db.delete_batch(
                conn, kind=kind, agency_id=job.agency_id, before=before, batch=batch
            ),
            batch,
        )
        await progress(step + 1, phase=kind)
    boundary = now - timedelta(days=periods.retention_audit_event_days)
    async with pool.acquire() as conn, conn.transaction():
        cut = await audit_db.last_seq_before(conn, agency_id=job.agency_id, before=boundary)
        anchored = await audit_db.move_anchor(conn, agency_id=job.agency_id, to_seq=cut)
        await audit_db.record(
            conn,
            agency_id=job.agency_id,
            actor_key_id=job.created_by,
            actor_role=job.created_by_role,
            acted_by=job.params.get("acted_by"),
            action="retention.apply",
            subject_type="job",
            subject_id=job.id,
            details={
                **{f"{k}_deleted": n for k, n in deleted.items()},
                "audit_boundary": boundary.isoformat(),
                "audit_anchor_seq": anchored,
            },
        )
    deleted["audit_events"] = await _drain(
        pool,
        lambda conn: audit_db.delete_before_anchor(
            conn, agency_id=job.agency_id, batch=RETENTION_BATCH
        ),
        RETENTION_BATCH,
    )
    await progress(len(RECORD_KINDS) + 1, phase="audit_events")
    return {"deleted": deleted, "audit_anchor_seq": anchored or None}


async def _drain(pool: asyncpg.Pool, delete: Any, batch: int) -> int:
    """Run `delete` (one batch, in its own transaction) until a batch comes back short."""
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            n: int = await delete(conn)
        total += n
        if n < batch:
            return total
