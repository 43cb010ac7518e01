"""Candidate retrieval (pgvector + hard filters) and persisted match lists."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import numpy as np

# Great-circle distance in km between (lat, lon) columns of alias `r` and the point ($lat, $lon).
# Parameter numbers are filled from fixed templates below, never from input.
_HAVERSINE = (
    "(2 * 6371.0088 * asin(least(1.0, sqrt("
    "power(sin(radians(r.lat - {lat}) / 2), 2) + "
    "cos(radians({lat})) * cos(radians(r.lat)) * power(sin(radians(r.lon - {lon}) / 2), 2)))))"
)
_KM_PER_DEGREE = 111.2


def bounding_box(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """A lat/lon box that contains the circle, for an index-friendly first cut."""
    dlat = radius_km / _KM_PER_DEGREE
    dlon = radius_km / (_KM_PER_DEGREE * max(0.01, math.cos(math.radians(lat))))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


@dataclass(frozen=True, slots=True)
class Candidate:
    id: UUID
    external_id: str
    profile: dict[str, Any]
    cosine: float


async def count_postings_within(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    lat: float,
    lon: float,
    radius_km: float,
    at_least: int,
) -> int:
    """How many active on-site postings lie within the radius, counting up to at_least.

    Remote postings are left out: they are always in reach, so counting them would stop the
    radius from widening for someone who needs work they can travel to.
    """
    lat_lo, lat_hi, lon_lo, lon_hi = bounding_box(lat, lon, radius_km)
    distance = _HAVERSINE.format(lat="$2", lon="$3")
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM posting r WHERE r.agency_id = $1 "
            "AND (r.valid_through IS NULL OR r.valid_through > now()) AND NOT r.remote_allowed "
            f"AND r.lat BETWEEN $5 AND $6 AND r.lon BETWEEN $7 AND $8 AND {distance} <= $4 "
            "LIMIT $9) t",
            agency_id,
            lat,
            lon,
            radius_km,
            lat_lo,
            lat_hi,
            lon_lo,
            lon_hi,
            at_least,
        )
    )


async def posting_candidates(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    model: str,
    query: np.ndarray,
    lat: float | None,
    lon: float | None,
    radius_km: float | None,
    limit: int,
) -> list[Candidate]:
    """Active postings nearest in meaning, within the radius unless remote (none if no location)."""
    distance = _HAVERSINE.format(lat="$5", lon="$6")
    rows = await conn.fetch(
        "SELECT r.id, r.external_id, r.profile, 1 - (e.embedding <=> $3) AS cosine "
        "FROM posting_embedding e JOIN posting r ON r.id = e.posting_id "
        "WHERE e.agency_id = $1 AND e.model = $2 "
        "AND (r.valid_through IS NULL OR r.valid_through > now()) "
        f"AND ($4::float8 IS NULL OR r.remote_allowed OR {distance} <= $4) "
        "ORDER BY e.embedding <=> $3 LIMIT $7",
        agency_id,
        model,
        query,
        radius_km,
        lat,
        lon,
        limit,
    )
    return [Candidate(r["id"], r["external_id"], r["profile"], float(r["cosine"])) for r in rows]


async def nearby_postings(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    lat: float | None,
    lon: float | None,
    radius_km: float | None,
    limit: int,
) -> list[Candidate]:
    """Active postings within the radius (or remote), nearest then newest: no vectors involved."""
    distance = _HAVERSINE.format(lat="$3", lon="$4")
    rows = await conn.fetch(
        "SELECT r.id, r.external_id, r.profile FROM posting r WHERE r.agency_id = $1 "
        "AND (r.valid_through IS NULL OR r.valid_through > now()) "
        f"AND ($2::float8 IS NULL OR r.remote_allowed OR {distance} <= $2) "
        f"ORDER BY CASE WHEN $3::float8 IS NULL OR r.lat IS NULL THEN 0 ELSE {distance} END, "
        "r.profile->>'date_posted' DESC NULLS LAST, r.id LIMIT $5",
        agency_id,
        radius_km,
        lat,
        lon,
        limit,
    )
    return [Candidate(r["id"], r["external_id"], r["profile"], 0.0) for r in rows]


async def seeker_candidates(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    model: str,
    query: np.ndarray,
    lat: float | None,
    lon: float | None,
    remote: bool,
    default_radius_km: float,
    limit: int,
) -> list[Candidate]:
    """Seekers nearest in meaning whose own radius reaches the posting (any, if remote)."""
    distance = _HAVERSINE.format(lat="$5", lon="$6")
    rows = await conn.fetch(
        "SELECT r.id, r.external_id, r.profile, 1 - (e.embedding <=> $3) AS cosine "
        "FROM seeker_embedding e JOIN seeker r ON r.id = e.seeker_id "
        "WHERE e.agency_id = $1 AND e.model = $2 "
        "AND ($4 OR $5::float8 IS NULL OR r.lat IS NULL "
        f"OR {distance} <= coalesce(r.max_distance_km, $7)) "
        "ORDER BY e.embedding <=> $3 LIMIT $8",
        agency_id,
        model,
        query,
        remote,
        lat,
        lon,
        default_radius_km,
        limit,
    )
    return [Candidate(r["id"], r["external_id"], r["profile"], float(r["cosine"])) for r in rows]


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
) -> tuple[UUID, datetime]:
    list_id = uuid4()
    created_at = await conn.fetchval(
        """
        INSERT INTO match_list (id, agency_id, kind, seeker_id, posting_id, created_by,
            model_version, embedding_model, personalised, radius_km, radius_widened_km,
            candidates_considered, fairness_policy, policy_version, fairness, input_hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
        RETURNING created_at
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
    )
    await conn.executemany(
        "INSERT INTO match_item (match_list_id, rank, seeker_id, posting_id, score, factors, "
        "features, explanation, external_id, title) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        [
            (
                list_id,
                it.rank,
                it.seeker_id,
                it.posting_id,
                it.score,
                it.factors,
                it.features,
                it.explanation,
                it.external_id,
                it.title,
            )
            for it in items
        ],
    )
    return list_id, created_at


async def get_list(
    conn: asyncpg.Connection, *, agency_id: UUID, list_id: UUID
) -> tuple[StoredList, list[StoredItem]] | None:
    row = await conn.fetchrow(
        "SELECT id, agency_id, kind, seeker_id, posting_id, created_at, model_version, "
        "embedding_model, personalised, radius_km, radius_widened_km, candidates_considered, "
        "fairness_policy, policy_version, fairness, input_hash "
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
