"""Caseworker decisions on match items, outcomes of seeker–posting pairs, list summaries."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel


class Decision(BaseModel):
    id: UUID
    match_list_id: UUID
    rank: int
    seeker_id: UUID
    posting_id: UUID
    action: str
    reason_code: str | None
    note: str | None
    new_rank: int | None
    created_at: datetime
    created_by: UUID
    acted_by: str | None


class Outcome(BaseModel):
    id: UUID
    seeker_id: UUID
    posting_id: UUID
    outcome: str
    created_at: datetime
    created_by: UUID
    acted_by: str | None


class ListSummary(BaseModel):
    id: UUID
    kind: str
    seeker_id: UUID | None
    posting_id: UUID | None
    created_at: datetime
    model_version: str
    items: int
    decisions: int
    seeker_external_id: str | None
    posting_external_id: str | None
    posting_title: str | None


_DECISION = (
    "id, match_list_id, rank, seeker_id, posting_id, action, reason_code, note, new_rank, "
    "created_at, created_by, acted_by"
)


async def insert_decision(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    match_list_id: UUID,
    rank: int,
    seeker_id: UUID,
    posting_id: UUID,
    action: str,
    reason_code: str | None,
    note: str | None,
    new_rank: int | None,
    created_by: UUID,
    acted_by: str | None,
) -> Decision:
    row = await conn.fetchrow(
        "INSERT INTO decision (id, agency_id, match_list_id, rank, seeker_id, posting_id, action, "
        "reason_code, note, new_rank, created_by, acted_by) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
        f"RETURNING {_DECISION}",
        uuid4(),
        agency_id,
        match_list_id,
        rank,
        seeker_id,
        posting_id,
        action,
        reason_code,
        note,
        new_rank,
        created_by,
        acted_by,
    )
    return Decision(**dict(row))


async def decisions_for_list(
    conn: asyncpg.Connection, *, agency_id: UUID, match_list_id: UUID
) -> list[Decision]:
    rows = await conn.fetch(
        f"SELECT {_DECISION} FROM decision WHERE agency_id = $1 AND match_list_id = $2 "
        "ORDER BY created_at, id",
        agency_id,
        match_list_id,
    )
    return [Decision(**dict(r)) for r in rows]


async def insert_outcome(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    seeker_id: UUID,
    posting_id: UUID,
    outcome: str,
    created_by: UUID,
    acted_by: str | None,
) -> Outcome:
    row = await conn.fetchrow(
        "INSERT INTO outcome (id, agency_id, seeker_id, posting_id, outcome, created_by, "
        "acted_by) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "RETURNING id, seeker_id, posting_id, outcome, created_at, created_by, acted_by",
        uuid4(),
        agency_id,
        seeker_id,
        posting_id,
        outcome,
        created_by,
        acted_by,
    )
    return Outcome(**dict(row))


async def list_summaries(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    seeker_id: UUID | None,
    posting_id: UUID | None,
    since: datetime | None,
    until: datetime | None,
    unreviewed: bool,
    after: tuple[datetime, UUID] | None,
    limit: int,
    latest_per_subject: bool = False,
) -> list[ListSummary]:
    """Newest first; `unreviewed` keeps lists without any decision; `latest_per_subject` keeps
    only the newest list of each seeker (jobs for a seeker) or posting (candidates for it), so a
    list produced again does not queue twice."""
    rows = await conn.fetch(
        """
        SELECT l.id, l.kind, l.seeker_id, l.posting_id, l.created_at, l.model_version,
               (SELECT count(*) FROM match_item i
                WHERE i.agency_id = l.agency_id AND i.match_list_id = l.id) AS items,
               (SELECT count(*) FROM decision d
                WHERE d.agency_id = l.agency_id AND d.match_list_id = l.id) AS decisions,
               s.external_id AS seeker_external_id, p.external_id AS posting_external_id,
               p.profile->>'title' AS posting_title
        FROM match_list l
        LEFT JOIN seeker s ON s.agency_id = l.agency_id AND s.id = l.seeker_id
        LEFT JOIN posting p ON p.agency_id = l.agency_id AND p.id = l.posting_id
        WHERE l.agency_id = $1
          AND ($2::uuid IS NULL OR l.seeker_id = $2)
          AND ($3::uuid IS NULL OR l.posting_id = $3)
          AND ($4::timestamptz IS NULL OR l.created_at >= $4)
          AND ($5::timestamptz IS NULL OR l.created_at < $5)
          AND (NOT $6 OR NOT EXISTS (
              SELECT 1 FROM decision d WHERE d.agency_id = l.agency_id AND d.match_list_id = l.id))
          AND ($7::timestamptz IS NULL OR (l.created_at, l.id) < ($7, $8::uuid))
          AND (NOT $10 OR NOT EXISTS (
                SELECT 1 FROM match_list n
                WHERE n.agency_id = l.agency_id AND n.kind = l.kind
                  AND n.seeker_id IS NOT DISTINCT FROM l.seeker_id
                  AND n.posting_id IS NOT DISTINCT FROM l.posting_id
                  AND (n.created_at, n.id) > (l.created_at, l.id)))
        ORDER BY l.created_at DESC, l.id DESC
        LIMIT $9
        """,
        agency_id,
        seeker_id,
        posting_id,
        since,
        until,
        unreviewed,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
        latest_per_subject,
    )
    return [ListSummary(**dict(r)) for r in rows]
