"""Agency accountability settings and the retention deletes (each a small batch)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic import BaseModel


class AgencySettings(BaseModel):
    require_acting_person: bool
    auditor_reads_profiles: bool
    retention_match_list_days: int
    retention_decision_days: int
    retention_outcome_days: int
    retention_audit_event_days: int
    retention_job_days: int


_COLUMNS = tuple(AgencySettings.model_fields)


async def get(conn: asyncpg.Connection, *, agency_id: UUID, lock: bool = False) -> AgencySettings:
    row = await conn.fetchrow(
        f"SELECT {', '.join(_COLUMNS)} FROM agency WHERE id = $1" + (" FOR UPDATE" if lock else ""),
        agency_id,
    )
    return AgencySettings(**dict(row))


async def put(conn: asyncpg.Connection, *, agency_id: UUID, values: AgencySettings) -> None:
    assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(_COLUMNS, start=2))
    await conn.execute(
        f"UPDATE agency SET {assignments} WHERE id = $1",
        agency_id,
        *(getattr(values, c) for c in _COLUMNS),
    )


# What retention deletes, oldest first, a batch at a time. Deleting a match list takes its
# items and the decisions on them with it (foreign keys).
_DELETES = {
    "match_lists": "DELETE FROM match_list WHERE agency_id = $1 AND id IN (SELECT id "
    "FROM match_list WHERE agency_id = $1 AND created_at < $2 ORDER BY created_at LIMIT $3)",
    "decisions": "DELETE FROM decision WHERE agency_id = $1 AND id IN (SELECT id "
    "FROM decision WHERE agency_id = $1 AND created_at < $2 ORDER BY created_at LIMIT $3)",
    "outcomes": "DELETE FROM outcome WHERE agency_id = $1 AND id IN (SELECT id "
    "FROM outcome WHERE agency_id = $1 AND created_at < $2 ORDER BY created_at LIMIT $3)",
    # finished jobs only: a queued or running one is still someone's work
    "jobs": "DELETE FROM job WHERE agency_id = $1 AND id IN (SELECT id FROM job "
    "WHERE agency_id = $1 AND created_at < $2 AND status IN ('succeeded', 'failed', "
    "'cancelled') ORDER BY created_at LIMIT $3)",
}
RECORD_KINDS = tuple(_DELETES)


async def delete_batch(
    conn: asyncpg.Connection, *, kind: str, agency_id: UUID, before: datetime, batch: int
) -> int:
    status = await conn.execute(_DELETES[kind], agency_id, before, batch)
    return int(status.split()[-1])
