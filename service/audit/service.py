"""Audit helpers: who did what to which subject, written in the action's own transaction.

Details hold ids, hashes, versions and counts only: never profile text or protected values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from service.audit import repository as audit_db
from service.audit.repository import AuditEvent
from service.auth.permissions import Principal


async def log(
    conn: asyncpg.Connection,
    principal: Principal,
    action: str,
    *,
    subject_type: str | None = None,
    subject_id: UUID | None = None,
    route: str | None = None,
    **details: Any,
) -> None:
    await audit_db.record(
        conn,
        agency_id=principal.agency_id,
        actor_key_id=principal.key_id,
        actor_role=principal.role.value,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        route=route,
        details=details,
    )


async def log_many(
    conn: asyncpg.Connection,
    principal: Principal,
    action: str,
    *,
    subject_type: str,
    subject_ids: Sequence[UUID],
    route: str | None = None,
) -> None:
    if subject_ids:
        await audit_db.record_many(
            conn,
            agency_id=principal.agency_id,
            actor_key_id=principal.key_id,
            actor_role=principal.role.value,
            action=action,
            subject_type=subject_type,
            subject_ids=subject_ids,
            route=route,
        )


async def events_page(
    pool: asyncpg.Pool,
    *,
    agency_id: UUID,
    after_seq: int | None,
    limit: int,
    actor_key_id: UUID | None = None,
    subject_id: UUID | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[AuditEvent], int | None]:
    """A page of the agency's events, oldest first, and the sequence number to continue after."""
    async with pool.acquire() as conn:
        rows = await audit_db.page(
            conn,
            agency_id=agency_id,
            after_seq=after_seq,
            limit=limit,
            actor_key_id=actor_key_id,
            subject_id=subject_id,
            action=action,
            since=since,
            until=until,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].seq if more and rows else None
