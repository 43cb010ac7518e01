"""Rows for the audit pack over a period: candidates shown with what became of them, stored
placement counts, decisions with their person, models and activations, data-card counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

_PERIOD = "l.agency_id = $1 AND l.created_at >= $2 AND l.created_at < $3"
_ATTRS = "p.gender, p.age_band, p.disability, p.migrant_background"


async def candidates(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Every candidate shown in a candidate list of the period, in rank order per list, with
    the consented attributes (NULL without consent) and whether a caseworker shortlisted or
    contacted them from that list, and whether the pair ended in a hire."""
    rows = await conn.fetch(
        f"SELECT l.id AS list_id, i.rank, {_ATTRS}, "
        "EXISTS (SELECT 1 FROM decision d WHERE d.agency_id = i.agency_id "
        "AND d.match_list_id = i.match_list_id "
        "AND d.rank = i.rank AND d.action = 'shortlist') AS shortlisted, "
        "EXISTS (SELECT 1 FROM decision d WHERE d.agency_id = i.agency_id "
        "AND d.match_list_id = i.match_list_id "
        "AND d.rank = i.rank AND d.action = 'contact') AS contacted, "
        "EXISTS (SELECT 1 FROM outcome o WHERE o.agency_id = i.agency_id "
        "AND o.seeker_id = i.seeker_id "
        "AND o.posting_id = i.posting_id AND o.outcome = 'hired') AS hired "
        "FROM match_list l "
        "JOIN match_item i ON i.agency_id = l.agency_id AND i.match_list_id = l.id "
        "LEFT JOIN seeker_protected p ON p.agency_id = i.agency_id AND p.seeker_id = i.seeker_id "
        "AND p.consent "
        f"WHERE {_PERIOD} AND l.kind = 'seekers_for_posting' ORDER BY l.id, i.rank",
        agency_id,
        since,
        until,
    )
    return [dict(r) for r in rows]


async def placements(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """The placement counts stored on each candidate list of the period, by list id."""
    rows = await conn.fetch(
        "SELECT l.id AS list_id, l.fairness->'placement' AS placement FROM match_list l "
        f"WHERE {_PERIOD} AND l.kind = 'seekers_for_posting' AND l.fairness ? 'placement'",
        agency_id,
        since,
        until,
    )
    return [dict(r) for r in rows]


async def lists(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT l.id, l.kind, l.model_version, l.policy_version, l.personalised "
        f"FROM match_list l WHERE {_PERIOD}",
        agency_id,
        since,
        until,
    )
    return [dict(r) for r in rows]


async def decisions(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Decisions on the period's lists, with the person (or, without one, the key)."""
    rows = await conn.fetch(
        "SELECT d.match_list_id AS list_id, d.rank, d.action, d.new_rank, "
        "coalesce(d.acted_by, 'key:' || d.created_by::text) AS person "
        "FROM decision d JOIN match_list l ON l.agency_id = d.agency_id AND l.id = d.match_list_id "
        f"WHERE {_PERIOD} ORDER BY d.created_at",
        agency_id,
        since,
        until,
    )
    return [dict(r) for r in rows]


async def models_and_activations(
    conn: asyncpg.Connection, *, agency_id: UUID
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    models = await conn.fetch(
        "SELECT id, version, kind, report, created_at FROM scoring_model WHERE agency_id = $1",
        agency_id,
    )
    activations = await conn.fetch(
        "SELECT seq, model_id, activated_at, activated_by, acted_by, forced, reason "
        "FROM model_activation WHERE agency_id = $1 ORDER BY seq",
        agency_id,
    )
    return [dict(r) for r in models], [dict(r) for r in activations]


async def policies(conn: asyncpg.Connection, *, agency_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT version, policy, created_at, acted_by FROM fairness_policy "
        "WHERE agency_id = $1 ORDER BY version",
        agency_id,
    )
    return [dict(r) for r in rows]


async def seeker_counts(conn: asyncpg.Connection, *, agency_id: UUID) -> dict[str, Any]:
    """Counts over the agency's seekers now: missing fields and consent."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS seekers,
               count(*) FILTER (WHERE coalesce(jsonb_array_length(s.profile->'skills'), 0) = 0)
                   AS no_skills,
               count(*) FILTER (WHERE coalesce(
                   jsonb_array_length(s.profile->'desired_occupations'), 0) = 0)
                   AS no_desired_occupations,
               count(*) FILTER (WHERE s.lat IS NULL) AS no_location,
               count(*) FILTER (WHERE s.profile->'experience_years' IS NULL) AS no_experience,
               count(*) FILTER (WHERE s.profile->'education_level' IS NULL) AS no_education,
               count(*) FILTER (WHERE coalesce(jsonb_array_length(s.profile->'languages'), 0) = 0)
                   AS no_languages,
               count(*) FILTER (WHERE p.consent) AS consented,
               count(*) FILTER (WHERE NOT s.personalised_ranking) AS opted_out
        FROM seeker s
        LEFT JOIN seeker_protected p ON p.agency_id = s.agency_id AND p.seeker_id = s.id
        WHERE s.agency_id = $1
        """,
        agency_id,
    )
    return dict(row)


async def seeker_groups(conn: asyncpg.Connection, *, agency_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {_ATTRS} FROM seeker_protected p WHERE p.agency_id = $1 AND p.consent",
        agency_id,
    )
    return [dict(r) for r in rows]


async def posting_count(conn: asyncpg.Connection, *, agency_id: UUID) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM posting WHERE agency_id = $1", agency_id))


async def agency_name(conn: asyncpg.Connection, *, agency_id: UUID) -> str:
    return str(await conn.fetchval("SELECT name FROM agency WHERE id = $1", agency_id))


async def capacity_policies(conn: asyncpg.Connection, *, agency_id: UUID) -> list[dict[str, Any]]:
    """Every version of the agency's capacity policy, oldest first."""
    rows = await conn.fetch(
        "SELECT version, policy, created_at, created_by FROM capacity_policy "
        "WHERE agency_id = $1 ORDER BY version",
        agency_id,
    )
    return [dict(r) for r in rows]


async def price_sets(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """The congestion-price computations (rebalance runs) of the period, oldest first."""
    rows = await conn.fetch(
        "SELECT version, policy_version, job_id, summary, created_at FROM congestion_price_set "
        "WHERE agency_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY version",
        agency_id,
        since,
        until,
    )
    return [dict(r) for r in rows]
