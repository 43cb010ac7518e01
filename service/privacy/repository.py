"""Data subject rights: everything stored about a seeker (export), and the scrubbing that
erasure needs beyond the cascading deletes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

AUDIT_EXPORT_LIMIT = 10_000


async def embedding_models(
    conn: asyncpg.Connection, *, agency_id: UUID, seeker_id: UUID
) -> list[dict[str, Any]]:
    """Which models embedded the seeker's profile, and when (never the vectors)."""
    rows = await conn.fetch(
        "SELECT model, created_at FROM seeker_embedding WHERE agency_id = $1 AND seeker_id = $2 "
        "ORDER BY model",
        agency_id,
        seeker_id,
    )
    return [dict(r) for r in rows]


async def match_items(
    conn: asyncpg.Connection, *, agency_id: UUID, seeker_id: UUID
) -> list[dict[str, Any]]:
    """Every stored match item about the seeker: in their own job lists and in candidate lists."""
    rows = await conn.fetch(
        "SELECT l.id AS match_list_id, l.kind, l.created_at, l.model_version, l.personalised, "
        "i.rank, i.posting_id, i.score, i.factors, i.features, i.explanation, i.external_id, "
        "i.title, CASE WHEN l.kind = 'postings_for_seeker' THEN l.capacity END AS list_capacity "
        "FROM match_item i "
        "JOIN match_list l ON l.agency_id = i.agency_id AND l.id = i.match_list_id "
        "WHERE i.seeker_id = $1 AND l.agency_id = $2 ORDER BY l.created_at, l.id, i.rank",
        seeker_id,
        agency_id,
    )
    return [dict(r) for r in rows]


async def decisions(
    conn: asyncpg.Connection, *, agency_id: UUID, seeker_id: UUID
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, match_list_id, rank, posting_id, action, reason_code, note, new_rank, "
        "created_at, acted_by FROM decision WHERE seeker_id = $1 AND agency_id = $2 "
        "ORDER BY created_at, id",
        seeker_id,
        agency_id,
    )
    return [dict(r) for r in rows]


async def outcomes(
    conn: asyncpg.Connection, *, agency_id: UUID, seeker_id: UUID
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, posting_id, outcome, created_at, acted_by FROM outcome "
        "WHERE seeker_id = $1 AND agency_id = $2 ORDER BY created_at, id",
        seeker_id,
        agency_id,
    )
    return [dict(r) for r in rows]


async def audit_trail(
    conn: asyncpg.Connection, *, agency_id: UUID, seeker_id: UUID
) -> list[dict[str, Any]]:
    """Who (by role) did what with the seeker's record, and when: the processing record."""
    rows = await conn.fetch(
        "SELECT at, action, actor_role, acted_by, route FROM audit_event "
        "WHERE agency_id = $1 AND subject_ids @> ARRAY[$2::uuid] ORDER BY seq LIMIT $3",
        agency_id,
        seeker_id,
        AUDIT_EXPORT_LIMIT,
    )
    return [dict(r) for r in rows]


async def scrub_import_errors(
    conn: asyncpg.Connection, *, agency_id: UUID, external_id: str
) -> int:
    """Erasure: import reports keep a failed record's external id (and quote it in the message);
    replace those entries of seeker imports by a bare `erased` note at the same position."""
    status = await conn.execute(
        """
        UPDATE job SET result = jsonb_set(result, '{errors}', (
            SELECT coalesce(jsonb_agg(
                CASE WHEN e->>'external_id' = $2
                     THEN jsonb_build_object('index', e->'index', 'errors',
                          jsonb_build_array(jsonb_build_object('field', '', 'message', 'erased')))
                     ELSE e END ORDER BY ord), '[]'::jsonb)
            FROM jsonb_array_elements(result->'errors') WITH ORDINALITY AS t(e, ord)))
        WHERE agency_id = $1 AND kind = 'seeker_import'
          AND jsonb_typeof(result->'errors') = 'array'
          AND EXISTS (SELECT 1 FROM jsonb_array_elements(result->'errors') e
                      WHERE e->>'external_id' = $2)
        """,
        agency_id,
        external_id,
    )
    return int(status.split()[-1])
