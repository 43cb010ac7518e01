"""Stored match lists: the list, its items and the audit row written with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson


@dataclass(frozen=True, slots=True)
class StoredItem:
    rank: int
    seeker_id: UUID
    posting_id: UUID
    score: float
    factors: dict[str, float]
    features: dict[str, float | None]
    explanation: dict[str, Any]
    external_id: str | None = None  # of the other side, as it was when the list was made
    title: str | None = None


@dataclass(frozen=True, slots=True)
class StoredList:
    id: UUID
    agency_id: UUID
    kind: str
    seeker_id: UUID | None
    posting_id: UUID | None
    created_at: datetime
    model_version: str
    embedding_model: str
    personalised: bool
    radius_km: float | None
    radius_widened_km: float
    candidates_considered: int
    fairness_policy: dict[str, Any] | None
    policy_version: int | None
    fairness: dict[str, Any] | None
    input_hash: str
    capacity: dict[str, Any] | None = None  # job lists under a capacity policy


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """The audit row written with a list (see service/audit/repository.py for the table)."""

    actor_key_id: UUID | None
    actor_role: str
    action: str
    route: str
    details: dict[str, Any]
    acted_by: str | None = None


async def insert_list(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    created_by: UUID | None,
    kind: str,
    seeker_id: UUID | None,
    posting_id: UUID | None,
    model_version: str,
    embedding_model: str,
    personalised: bool,
    radius_km: float | None,
    radius_widened_km: float,
    candidates_considered: int,
    fairness_policy: dict[str, Any] | None,
    policy_version: int | None,
    fairness: dict[str, Any] | None,
    input_hash: str,
    items: list[StoredItem],
    audit: AuditEntry,
    capacity: dict[str, Any] | None = None,
) -> tuple[UUID, datetime]:
    """The list, its items and its audit row in one statement: one round trip, and atomic
    (a statement is its own transaction), on the path of every match request."""
    list_id = uuid4()
    created_at = await conn.fetchval(
        """
        WITH new_list AS (
            INSERT INTO match_list (id, agency_id, kind, seeker_id, posting_id, created_by,
                model_version, embedding_model, personalised, radius_km, radius_widened_km,
                candidates_considered, fairness_policy, policy_version, fairness, input_hash,
                capacity)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $33)
            RETURNING created_at
        ), new_items AS (
            INSERT INTO match_item (agency_id, match_list_id, rank, seeker_id, posting_id, score,
                factors, features, explanation, external_id, title)
            SELECT $2, $1, rank, seeker_id, posting_id, score, factors::jsonb, features::jsonb,
                explanation::jsonb, external_id, title
            FROM unnest($17::int[], $18::uuid[], $19::uuid[], $20::float8[], $21::text[],
                $22::text[], $23::text[], $24::text[], $25::text[])
                AS t(rank, seeker_id, posting_id, score, factors, features, explanation,
                     external_id, title)
        ), new_audit AS (
            INSERT INTO audit_event (id, agency_id, actor_key_id, actor_role, action,
                subject_type, subject_id, route, details, acted_by)
            VALUES ($26, $2, $27, $28, $29, 'match_list', $1, $30, $31, $32)
        )
        SELECT created_at FROM new_list
        """,
        list_id,
        agency_id,
        kind,
        seeker_id,
        posting_id,
        created_by,
        model_version,
        embedding_model,
        personalised,
        radius_km,
        radius_widened_km,
        candidates_considered,
        fairness_policy,
        policy_version,
        fairness,
        input_hash,
        [it.rank for it in items],
        [it.seeker_id for it in items],
        [it.posting_id for it in items],
        [it.score for it in items],
        [_json(it.factors) for it in items],
        [_json(it.features) for it in items],
        [_json(it.explanation) for it in items],
        [it.external_id for it in items],
        [it.title for it in items],
        uuid4(),
        audit.actor_key_id,
        audit.actor_role,
        audit.action,
        audit.route,
        audit.details,
        audit.acted_by,
        capacity,
    )
    return list_id, created_at


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def get_list(
    conn: asyncpg.Connection, *, agency_id: UUID, list_id: UUID
) -> tuple[StoredList, list[StoredItem]] | None:
    row = await conn.fetchrow(
        "SELECT id, agency_id, kind, seeker_id, posting_id, created_at, model_version, "
        "embedding_model, personalised, radius_km, radius_widened_km, candidates_considered, "
        "fairness_policy, policy_version, fairness, input_hash, capacity "
        "FROM match_list WHERE id = $1 AND agency_id = $2",
        list_id,
        agency_id,
    )
    if row is None:
        return None
    items = await conn.fetch(
        "SELECT rank, seeker_id, posting_id, score, factors, features, explanation, external_id, "
        "title FROM match_item WHERE match_list_id = $1 ORDER BY rank",
        list_id,
    )
    return StoredList(**dict(row)), [StoredItem(**dict(i)) for i in items]


# Records are stamped with their transaction's start, and a list with its own, after its
# candidates were read: a write stamped up to this long before a list may not have been seen
# by it (a write transaction still open, or a request still scoring), so such a list is not
# answered again. Seconds, as SQL.
WRITE_SLACK = "3 seconds"


async def reusable_list(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    kind: str,
    seeker_id: UUID | None,
    posting_id: UUID | None,
    input_hash: str,
    fresh_seconds: float,
    limit: int,
) -> UUID | None:
    """The newest list of this kind for this seeker or posting made from the same input (same
    profile, limit, language, scorer, embedding model, policy) less than `fresh_seconds` ago,
    when nothing on the candidate side changed since: no candidate record of the agency
    written (created or edited), no posting expired, and none of its items deleted."""
    candidates = "posting" if kind == "postings_for_seeker" else "seeker"  # never from input
    expiry = (
        "AND NOT EXISTS (SELECT 1 FROM posting p WHERE p.agency_id = $1 "
        f"AND p.valid_through > l.created_at - interval '{WRITE_SLACK}' "
        "AND p.valid_through <= now()) "
        if candidates == "posting"
        else ""
    )
    found: UUID | None = await conn.fetchval(
        "SELECT l.id FROM match_list l "
        "WHERE l.agency_id = $1 AND l.kind = $2 "
        "AND l.seeker_id IS NOT DISTINCT FROM $3 AND l.posting_id IS NOT DISTINCT FROM $4 "
        "AND l.input_hash = $5 AND l.created_at > now() - make_interval(secs => $6) "
        f"AND NOT EXISTS (SELECT 1 FROM {candidates} r WHERE r.agency_id = $1 "
        f"AND r.updated_at > l.created_at - interval '{WRITE_SLACK}') "
        f"{expiry}"
        "AND (SELECT count(*) FROM match_item i WHERE i.agency_id = $1 AND i.match_list_id = l.id) "
        "= least($7, l.candidates_considered) "
        "ORDER BY l.created_at DESC LIMIT 1",
        agency_id,
        kind,
        seeker_id,
        posting_id,
        input_hash,
        fresh_seconds,
        limit,
    )
    return found


@dataclass(frozen=True, slots=True)
class RankingStops:
    """Where automated ranking is stopped: the whole agency, and single postings."""

    agency: datetime | None  # when it was stopped for the agency (None: running)
    postings: dict[UUID, datetime]  # posting → when it was stopped


async def ranking_stops(conn: asyncpg.Connection, *, agency_id: UUID) -> RankingStops:
    rows = await conn.fetch(
        "SELECT posting_id, stopped_at FROM ranking_stop WHERE agency_id = $1 "
        "ORDER BY stopped_at, posting_id",
        agency_id,
    )
    return RankingStops(
        agency=next((r["stopped_at"] for r in rows if r["posting_id"] is None), None),
        postings={r["posting_id"]: r["stopped_at"] for r in rows if r["posting_id"] is not None},
    )


async def ranking_stopped(
    conn: asyncpg.Connection, *, agency_id: UUID, posting_id: UUID | None
) -> bool:
    """Whether lists of the agency (and, with `posting_id`, of that posting) are made without
    automated ranking."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM ranking_stop WHERE agency_id = $1 "
            "AND (posting_id IS NULL OR posting_id = $2))",
            agency_id,
            posting_id,
        )
    )


async def stop_ranking(
    conn: asyncpg.Connection, *, agency_id: UUID, posting_id: UUID | None, stopped_by: UUID
) -> bool:
    """True when it was running (a row was added)."""
    status = await conn.execute(
        "INSERT INTO ranking_stop (agency_id, posting_id, stopped_by) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        agency_id,
        posting_id,
        stopped_by,
    )
    return bool(status.endswith(" 1"))


async def resume_ranking(
    conn: asyncpg.Connection, *, agency_id: UUID, posting_id: UUID | None
) -> bool:
    """True when it was stopped (a row was removed)."""
    status = await conn.execute(
        "DELETE FROM ranking_stop WHERE agency_id = $1 AND posting_id IS NOT DISTINCT FROM $2",
        agency_id,
        posting_id,
    )
    return bool(status.endswith(" 1"))
