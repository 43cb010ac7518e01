"""Audit helpers: who did what to which subjects, written in the action's own transaction; and
the verification of the hash chain.

One event per request: a request that touches many subjects (a page of seekers) writes one
event naming all of them. Details hold ids, hashes, versions and counts only: never profile
text or protected values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from service.audit import repository as audit_db
from service.audit.chain import Break, Walk
from service.audit.repository import AuditEvent
from service.auth.permissions import Principal

VERIFY_BATCH = 5000


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
        acted_by=principal.acting_person,
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
    **details: Any,
) -> None:
    """One event naming every subject (none written for no subjects); one subject is also its
    `subject_id`."""
    if subject_ids:
        await audit_db.record(
            conn,
            agency_id=principal.agency_id,
            actor_key_id=principal.key_id,
            actor_role=principal.role.value,
            acted_by=principal.acting_person,
            action=action,
            subject_type=subject_type,
            subject_id=subject_ids[0] if len(subject_ids) == 1 else None,
            subject_ids=subject_ids,
            route=route,
            details={**details, "count": len(subject_ids)},
        )


async def events_page(
    pool: asyncpg.Pool,
    *,
    agency_id: UUID,
    after_seq: int | None,
    limit: int,
    actor_key_id: UUID | None = None,
    acted_by: str | None = None,
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
            acted_by=acted_by,
            subject_id=subject_id,
            action=action,
            since=since,
            until=until,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].seq if more and rows else None


@dataclass(frozen=True, slots=True)
class Verification:
    agency_id: UUID
    verified: bool
    events_checked: int
    anchor_seq: int
    head_seq: int | None
    first_break: Break | None


async def verify(pool: asyncpg.Pool, *, agency_id: UUID) -> Verification:
    """Recompute the agency's chain from its anchor (the retention boundary, or the start) to
    its head, in batches; report the first event that breaks it."""
    # One snapshot: a retention run moving the anchor meanwhile cannot look like a break.
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        head = await audit_db.chain(conn, agency_id=agency_id)
        if head is None:
            return Verification(agency_id, True, 0, 0, None, None)
        walk = Walk(expected_previous=head.anchor_hash, last_seq=head.anchor_seq)
        upto = head.head_seq or 0  # events written after the head was read wait for next time
        while walk.first_break is None and walk.last_seq < upto:
            batch = await audit_db.chained_events(
                conn,
                agency_id=agency_id,
                after_seq=walk.last_seq,
                upto_seq=upto,
                limit=VERIFY_BATCH,
            )
            if not batch:
                break
            walk.feed(batch)
        walk.finish(head.head_hash)
    return Verification(
        agency_id,
        walk.first_break is None,
        walk.checked,
        head.anchor_seq,
        head.head_seq,
        walk.first_break,
    )


async def agencies(pool: asyncpg.Pool) -> list[UUID]:
    async with pool.acquire() as conn:
        return await audit_db.agencies_with_chains(conn)
