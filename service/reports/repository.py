"""Rows for the fairness report: candidate-list placement, shortlisting, recommendations."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

_PERIOD = "l.agency_id = $1 AND l.created_at >= $2 AND l.created_at < $3"


async def placements(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT l.fairness->'placement' AS placement FROM match_list l "
        f"WHERE {_PERIOD} AND l.kind = 'seekers_for_posting' AND l.fairness ? 'placement'",
        agency_id,
        since,
        until,
    )
    return [r["placement"] for r in rows]


async def shortlisting(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Every candidate shown in a list of the period, and whether a caseworker shortlisted
    (or contacted) them from it; attributes only with consent."""
    rows = await conn.fetch(
        "SELECT p.gender, p.age_band, p.disability, p.migrant_background, "
        "EXISTS (SELECT 1 FROM decision d WHERE d.agency_id = i.agency_id "
        "AND d.match_list_id = i.match_list_id "
        "AND d.rank = i.rank AND d.action IN ('shortlist', 'contact')) AS selected "
        "FROM match_item i "
        "JOIN match_list l ON l.agency_id = i.agency_id AND l.id = i.match_list_id "
        "LEFT JOIN seeker_protected p ON p.agency_id = i.agency_id AND p.seeker_id = i.seeker_id "
        "AND p.consent "
        f"WHERE {_PERIOD} AND l.kind = 'seekers_for_posting'",
        agency_id,
        since,
        until,
    )
    return [dict(r) for r in rows]


async def recommendations(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime, until: datetime, top: int
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT p.gender, p.age_band, p.disability, p.migrant_background, i.score, "
        "post.profile->'base_salary' AS salary "
        "FROM match_item i "
        "JOIN match_list l ON l.agency_id = i.agency_id AND l.id = i.match_list_id "
        "JOIN posting post ON post.agency_id = i.agency_id AND post.id = i.posting_id "
        "LEFT JOIN seeker_protected p ON p.agency_id = i.agency_id AND p.seeker_id = i.seeker_id "
        "AND p.consent "
        f"WHERE {_PERIOD} AND l.kind = 'postings_for_seeker' AND l.personalised "
        "AND i.rank <= $4",
        agency_id,
        since,
        until,
        top,
    )
    return [dict(r) for r in rows]


async def market_postings(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """The postings open at some time in the period, with their openings (1 when not stated)."""
    rows = await conn.fetch(
        "SELECT id, external_id, created_at, valid_through, "
        "greatest(coalesce((profile->>'openings')::int, 1), 1) AS openings "
        "FROM posting WHERE agency_id = $1 AND created_at < $3 "
        "AND (valid_through IS NULL OR valid_through >= $2)",
        agency_id,
        since,
        until,
    )
    return [dict(r) for r in rows]


async def market_exposure(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime, until: datetime, top: int
) -> list[dict[str, Any]]:
    """Per UTC day and posting, over the job lists of the period: rank-discounted exposure,
    appearances in a top `top`, and appearances at any rank."""
    rows = await conn.fetch(
        "SELECT (l.created_at AT TIME ZONE 'UTC')::date AS day, i.posting_id, "
        "sum(1.0 / log(2, i.rank + 1))::float8 AS exposure, "
        "count(*) FILTER (WHERE i.rank <= $4)::int AS top_appearances, "
        "count(*)::int AS appearances "
        "FROM match_item i "
        "JOIN match_list l ON l.agency_id = i.agency_id AND l.id = i.match_list_id "
        f"WHERE {_PERIOD} AND l.kind = 'postings_for_seeker' "
        "GROUP BY 1, 2",
        agency_id,
        since,
        until,
        top,
    )
    return [dict(r) for r in rows]


async def market_lists(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Per UTC day: job lists made, and the relevance they gave up for capacity (summed)."""
    rows = await conn.fetch(
        "SELECT (l.created_at AT TIME ZONE 'UTC')::date AS day, count(*)::int AS lists, "
        "count(l.capacity)::int AS under_capacity, "
        "coalesce(sum((l.capacity->>'relevance_given_up')::float8), 0)::float8 AS given_up "
        f"FROM match_list l WHERE {_PERIOD} AND l.kind = 'postings_for_seeker' GROUP BY 1",
        agency_id,
        since,
        until,
    )
    return [dict(r) for r in rows]


async def market_applications(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Per UTC day and posting: applications (outcomes `applied`) recorded in the period."""
    rows = await conn.fetch(
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, posting_id, count(*)::int AS n "
        "FROM outcome WHERE agency_id = $1 AND outcome = 'applied' "
        "AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2",
        agency_id,
        since,
        until,
    )
    return [dict(r) for r in rows]
