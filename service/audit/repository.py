"""The append-only audit log. Call `record` on the connection of the action's own transaction.

The table's insert trigger (migration 0015) chains each event to the agency's previous one by
hash, under a lock on the agency's `audit_chain` row held until the transaction ends.
"""

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
    acted_by: str | None
    action: str
    subject_type: str | None
    subject_id: UUID | None
    subject_ids: list[UUID] | None
    route: str | None
    details: dict[str, Any]


class ChainedEvent(BaseModel):
    """An event as the hash chain covers it: details as PostgreSQL prints them."""

    seq: int
    id: UUID
    agency_id: UUID
    at: datetime
    actor_key_id: UUID | None
    actor_role: str | None
    acted_by: str | None
    action: str
    subject_type: str | None
    subject_id: UUID | None
    subject_ids: list[UUID] | None
    route: str | None
    details_text: str
    prev_hash: bytes | None
    hash: bytes | None


class Chain(BaseModel):
    agency_id: UUID
    head_hash: bytes
    head_seq: int | None
    anchor_seq: int
    anchor_hash: bytes
    anchored_at: datetime | None


async def record(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    actor_key_id: UUID | None,
    actor_role: str | None,
    action: str,
    acted_by: str | None = None,
    subject_type: str | None = None,
    subject_id: UUID | None = None,
    subject_ids: Sequence[UUID] | None = None,
    route: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_event (id, agency_id, actor_key_id, actor_role, acted_by, action, "
        "subject_type, subject_id, subject_ids, route, details) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        uuid4(),
        agency_id,
        actor_key_id,
        actor_role,
        acted_by,
        action,
        subject_type,
        subject_id,
        list(subject_ids) if subject_ids is not None else None,
        route,
        details or {},
    )


_COLUMNS = (
    "seq, id, at, actor_key_id, actor_role, acted_by, action, subject_type, subject_id, "
    "subject_ids, route, details"
)


async def page(
    conn: asyncpg.Connection,
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
) -> list[AuditEvent]:
    # A subject is found among every subject an event names (GIN index on subject_ids).
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM audit_event WHERE agency_id = $1 "
        "AND ($2::bigint IS NULL OR seq > $2) "
        "AND ($3::uuid IS NULL OR actor_key_id = $3) "
        "AND ($4::uuid IS NULL OR subject_ids @> ARRAY[$4::uuid]) "
        "AND ($5::text IS NULL OR action = $5) "
        "AND ($6::timestamptz IS NULL OR at >= $6) "
        "AND ($7::timestamptz IS NULL OR at < $7) "
        "AND ($9::text IS NULL OR acted_by = $9) "
        "ORDER BY seq LIMIT $8",
        agency_id,
        after_seq,
        actor_key_id,
        subject_id,
        action,
        since,
        until,
        limit + 1,
        acted_by,
    )
    return [AuditEvent(**dict(r)) for r in rows]


async def chain(conn: asyncpg.Connection, *, agency_id: UUID) -> Chain | None:
    row = await conn.fetchrow(
        "SELECT agency_id, head_hash, head_seq, anchor_seq, anchor_hash, anchored_at "
        "FROM audit_chain WHERE agency_id = $1",
        agency_id,
    )
    return Chain(**dict(row)) if row else None


async def chained_events(
    conn: asyncpg.Connection, *, agency_id: UUID, after_seq: int, upto_seq: int, limit: int
) -> list[ChainedEvent]:
    """The agency's events after `after_seq` up to `upto_seq`, in chain (= seq) order, as the
    chain covers them."""
    rows = await conn.fetch(
        "SELECT seq, id, agency_id, at, actor_key_id, actor_role, acted_by, action, "
        "subject_type, subject_id, subject_ids, route, details::text AS details_text, "
        "prev_hash, hash FROM audit_event WHERE agency_id = $1 AND seq > $2 AND seq <= $3 "
        "ORDER BY seq LIMIT $4",
        agency_id,
        after_seq,
        upto_seq,
        limit,
    )
    return [ChainedEvent(**dict(r)) for r in rows]


async def agencies_with_chains(conn: asyncpg.Connection) -> list[UUID]:
    return [r["agency_id"] for r in await conn.fetch("SELECT agency_id FROM audit_chain")]


async def last_seq_before(conn: asyncpg.Connection, *, agency_id: UUID, before: datetime) -> int:
    """The agency's last event older than `before` (0: none)."""
    seq = await conn.fetchval(
        "SELECT max(seq) FROM audit_event WHERE agency_id = $1 AND at < $2", agency_id, before
    )
    return int(seq or 0)


async def move_anchor(conn: asyncpg.Connection, *, agency_id: UUID, to_seq: int) -> int | None:
    """Anchor the chain at event `to_seq` (its hash becomes the anchor) when it lies past the
    current anchor; returns the new anchor seq, or None when nothing moved."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        "UPDATE audit_chain c SET anchor_seq = e.seq, anchor_hash = e.hash, "
        "anchored_at = clock_timestamp() FROM audit_event e "
        "WHERE c.agency_id = $1 AND e.agency_id = $1 AND e.seq = $2 AND c.anchor_seq < $2 "
        "RETURNING c.anchor_seq",
        agency_id,
        to_seq,
    )


async def delete_before_anchor(conn: asyncpg.Connection, *, agency_id: UUID, batch: int) -> int:
    """Delete up to `batch` of the agency's events at or before its chain anchor (retention);
    returns how many went. Runs in the caller's transaction, which the trigger lets through
    only with `jobmatch.audit_retention` set for it."""
    await conn.execute("SELECT set_config('jobmatch.audit_retention', 'on', true)")
    deleted = await conn.fetchval(
        "WITH gone AS (DELETE FROM audit_event WHERE agency_id = $1 AND seq IN (SELECT e.seq "
        "FROM audit_event e JOIN audit_chain c ON c.agency_id = e.agency_id "
        "WHERE e.agency_id = $1 AND e.seq <= c.anchor_seq ORDER BY e.seq LIMIT $2) RETURNING 1) "
        "SELECT count(*) FROM gone",
        agency_id,
        batch,
    )
    return int(deleted)
