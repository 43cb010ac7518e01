"""The append-only audit log. Call `record` on the connection of the action's own transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel


class AuditEvent(BaseModel):
    seq: int
    id: UUID
    at: datetime
    actor_key_id: UUID | None
    actor_role: str | None
    action: str
    subject_type: str | None
    subject_id: UUID | None
    route: str | None
    details: dict[str, Any]


async def record(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    actor_key_id: UUID | None,
    actor_role: str | None,
    action: str,
    subject_type: str | None = None,
    subject_id: UUID | None = None,
    route: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_event (id, agency_id, actor_key_id, actor_role, action, subject_type, "
        "subject_id, route, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        uuid4(),
        agency_id,
        actor_key_id,
        actor_role,
        action,
        subject_type,
        subject_id,
        route,
        details or {},
    )


async def record_many(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    actor_key_id: UUID | None,
    actor_role: str | None,
    action: str,
    subject_type: str,
    subject_ids: Sequence[UUID],
    route: str | None = None,
) -> None:
    await conn.executemany(
        "INSERT INTO audit_event (id, agency_id, actor_key_id, actor_role, action, subject_type, "
        "subject_id, route) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (uuid4(), agency_id, actor_key_id, actor_role, action, subject_type, sid, route)
            for sid in subject_ids
        ],
    )


async def page(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    after_seq: int | None,
    limit: int,
    actor_key_id: UUID | None = None,
    subject_id: UUID | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEvent]:
    rows = await conn.fetch(
        "SELECT seq, id, at, actor_key_id, actor_role, action, subject_type, subject_id, route, "
        "details FROM audit_event WHERE agency_id = $1 "
        "AND ($2::bigint IS NULL OR seq > $2) "
        "AND ($3::uuid IS NULL OR actor_key_id = $3) "
        "AND ($4::uuid IS NULL OR subject_id = $4) "
        "AND ($5::text IS NULL OR action = $5) "
        "AND ($6::timestamptz IS NULL OR at >= $6) "
        "AND ($7::timestamptz IS NULL OR at < $7) "
        "ORDER BY seq LIMIT $8",
        agency_id,
        after_seq,
        actor_key_id,
        subject_id,
        action,
        since,
        until,
        limit + 1,
    )
    return [AuditEvent(**dict(r)) for r in rows]
