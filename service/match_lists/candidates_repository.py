"""Candidate retrieval: pgvector nearest neighbours, full-text matches and hard filters
(agency, active, radius), and the profiles of the candidates found."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np

from service.records.protected_repository import FIELDS as PROTECTED_FIELDS

# Great-circle distance in km between the (lat, lon) columns of alias `{t}` and the point
# ($lat, $lon). Aliases and parameter numbers come from fixed templates below, never from input.
_HAVERSINE = (
    "(2 * 6371.0088 * asin(least(1.0, sqrt("
    "power(sin(radians({t}.lat - {lat}) / 2), 2) + "
    "cos(radians({lat})) * cos(radians({t}.lat)) * power(sin(radians({t}.lon - {lon}) / 2), 2)))))"
)
# Active postings, read from the copies beside their vectors (alias `e`).
ACTIVE = "(e.valid_through IS NULL OR e.valid_through > now())"
# The candidates `c` (posting_id, distance) joined to their postings, nearest first.
_POSTINGS_OF_C = (
    "SELECT r.id, r.external_id, r.version, 1 - c.distance AS cosine "
    "FROM c JOIN posting r ON r.agency_id = $1 AND r.id = c.posting_id "
    "ORDER BY c.distance, r.id"
)
_KM_PER_DEGREE = 111.2


def nearest_by_cosine(alias: str, width: int) -> tuple[str, str]:
    """(distance expression, its WHERE condition) for the vectors of alias `alias` against $3,
    in the form the per-width HNSW indexes serve (migration 0019): both sides cast to the width,
    and the width named in the WHERE clause like in the index's predicate."""
    n = int(width)  # from the query vector's length, never from input text
    return (
        f"{alias}.embedding::vector({n}) <=> $3::vector({n})",
        f"vector_dims({alias}.embedding) = {n}",
    )


def _nearest_indexed_and_waiting(select: str, order: str, limit: str) -> str:
    """The `limit` rows of `select` (a SELECT ... FROM ... WHERE of alias `e`) nearest by
    `order`: the HNSW index searched for the indexed vectors, and the vectors a bulk import
    left for the index to take later compared one by one (found by their partial index,
    migration 0020); the two nearest-first lists merged."""
    return (
        f"SELECT * FROM (({select} AND e.indexed ORDER BY {order} LIMIT {limit}) UNION ALL "
        f"({select} AND NOT e.indexed ORDER BY {order} LIMIT {limit})) nearest "
        f"ORDER BY distance LIMIT {limit}"
    )


def bounding_box(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """A lat/lon box that contains the circle, for an index-friendly first cut."""
    dlat = radius_km / _KM_PER_DEGREE
    dlon = radius_km / (_KM_PER_DEGREE * max(0.01, math.cos(math.radians(lat))))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


@dataclass(frozen=True, slots=True)
class Candidate:
    id: UUID
    external_id: str
    version: int
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
    distance = _HAVERSINE.format(t="r", lat="$2", lon="$3")
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


async def count_reachable_postings(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    model: str,
    lat: float,
    lon: float,
    radius_km: float,
    at_most: int,
) -> int:
    """How many active postings with a `model` vector are in reach (within the radius, or
    remote), counting up to at_most; from the geographic indexes alone. Remote postings are
    counted first: when they alone reach at_most, the radius is never looked at."""
    lat_lo, lat_hi, lon_lo, lon_hi = bounding_box(lat, lon, radius_km)
    distance = _HAVERSINE.format(t="e", lat="$3", lon="$4")
    return int(
        await conn.fetchval(
            "SELECT CASE WHEN remote.n >= $10 THEN remote.n ELSE remote.n + ("
            "SELECT count(*) FROM (SELECT 1 FROM posting_embedding e "
            f"WHERE e.agency_id = $1 AND e.model = $2 AND NOT e.remote_allowed AND {ACTIVE} "
            f"AND e.lat BETWEEN $6 AND $7 AND e.lon BETWEEN $8 AND $9 AND {distance} <= $5 "
            "LIMIT $10 - remote.n) near) END "
            "FROM (SELECT count(*) AS n FROM (SELECT 1 FROM posting_embedding e "
            "WHERE e.agency_id = $1 AND e.model = $2 AND (e.remote_allowed OR e.lat IS NULL) "
            f"AND {ACTIVE} LIMIT $10) r) remote",
            agency_id,
            model,
            lat,
            lon,
            radius_km,
            lat_lo,
            lat_hi,
            lon_lo,
            lon_hi,
            at_most,
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
    exact: bool = False,
) -> list[Candidate]:
    """Active postings nearest in meaning, within the radius unless remote (none if no location).
    A posting whose place has no coordinates (an address the gazetteer did not know) is in
    reach of everyone, its distance unknown, like a seeker without a location.

    The filter reads copies of the filter columns beside each vector (migration 0006), so only
    the `limit` survivors are joined to their postings. Two plans:
    - `exact=False`: the HNSW index, with pgvector's iterative scan (set on every connection)
      going on until `limit` rows pass the filter. Good while many postings are in reach.
    - `exact=True`: the postings in reach found by the geographic indexes (migration 0008),
      then every one of their vectors compared. When few postings are in reach this is both
      cheaper than the HNSW scan, which would visit ~limit / share-in-reach vectors, and exact.
    """
    distance = _HAVERSINE.format(t="e", lat="$5", lon="$6")
    nearness, same_width = nearest_by_cosine("e", len(query))
    args: list[Any] = [agency_id, model, query, radius_km, lat, lon, limit]
    if exact and radius_km is not None and lat is not None and lon is not None:
        # A materialised CTE has no ORDER BY for the HNSW index to serve: the planner uses the
        # geographic indexes (one per arm of the OR), then sorts the few distances.
        args += bounding_box(lat, lon, radius_km)
        candidates = (
            f"WITH reach AS MATERIALIZED (SELECT e.posting_id, {nearness} AS distance "
            f"FROM posting_embedding e WHERE e.agency_id = $1 AND e.model = $2 AND {ACTIVE} "
            "AND (e.remote_allowed OR e.lat IS NULL "
            "OR (NOT e.remote_allowed AND e.lat BETWEEN $8 AND $9 "
            f"AND e.lon BETWEEN $10 AND $11 AND {distance} <= $4))), "
            "c AS (SELECT * FROM reach ORDER BY distance, posting_id LIMIT $7) "
        )
    else:
        nearest = _nearest_indexed_and_waiting(
            f"SELECT e.posting_id, {nearness} AS distance "
            f"FROM posting_embedding e WHERE e.agency_id = $1 AND e.model = $2 AND {ACTIVE} "
            f"AND {same_width} "
            f"AND ($4::float8 IS NULL OR e.remote_allowed OR e.lat IS NULL OR {distance} <= $4)",
            nearness,
            "$7",
        )
        candidates = f"WITH c AS ({nearest}) "
    rows = await conn.fetch(candidates + _POSTINGS_OF_C, *args)
    return [Candidate(r["id"], r["external_id"], r["version"], float(r["cosine"])) for r in rows]


# PostgreSQL's ts_rank (normalised by document length) of a posting naming several of a seeker's
# words is a few hundredths; scaled by this and mapped by x / (1 + x) it becomes a 0-1 feature
# that is about one half for such a posting.
LEXICAL_RANK_SCALE = 30.0
# The rarest words carry the evidence (a trade, a tool, a licence); a few find the postings
# worth ranking without matching most of an agency on words every posting has.
LEXICAL_FINDING_TERMS = 8
# Words that rank the postings found: the rarest few dozen. ts_rank's cost grows with the words
# it looks for, and words most postings hold ("work", "team") rank nothing apart.
LEXICAL_RANKING_TERMS = 16
# Bounds the ranking work when even the rarest words are common in a large agency.
LEXICAL_RANKED_AT_MOST = 500


async def common_lexemes(conn: asyncpg.Connection) -> list[str]:
    """The lexemes most postings' search column holds, from the least to the most common:
    ANALYZE's most common elements of `posting.search_vector` (kept current by autovacuum),
    ordered by the share of postings holding each. A lexeme not listed is rarer than every
    listed one. Empty before the first ANALYZE."""
    return [
        r["lex"]
        for r in await conn.fetch(
            "SELECT c.lex FROM pg_stats s, "
            "unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS c(lex, share) "
            "WHERE s.schemaname = current_schema() AND s.tablename = 'posting' "
            "AND s.attname = 'search_vector' ORDER BY c.share, length(c.lex) DESC, c.lex"
        )
    ]


# The seeker's words as two full-text queries: `rare_words` (the LEXICAL_FINDING_TERMS rarest,
# which find postings) and `telling_words` (the LEXICAL_RANKING_TERMS rarest, which rank them).
# The text is analysed with the agency's configuration and its lexemes ordered by rarity: by
# their place in the common lexemes (what `common_lexemes` read, one JSON parameter: a
# thousand-element array parameter costs more to encode than the query takes); a lexeme not
# among them counts as rarer than all. Parameters: $1 agency, $2 text, $3 common lexemes.
_SEEKER_WORDS = (
    "WITH lex AS (SELECT DISTINCT lex FROM unnest(tsvector_to_array(to_tsvector("
    "(SELECT a.text_search_config FROM agency a WHERE a.id = $1), $2))) AS lex), "
    "rarity AS (SELECT lex.lex, coalesce(c.place, 0) AS commonness FROM lex "
    "LEFT JOIN jsonb_array_elements_text($3::jsonb) WITH ORDINALITY AS c(lex, place) "
    "ON c.lex = lex.lex), "
    "ranked AS (SELECT lex, "
    "row_number() OVER (ORDER BY commonness, length(lex) DESC, lex) AS n FROM rarity), "
    "q AS (SELECT to_tsquery('simple', string_agg(quote_literal(lex), ' | ') "
    f"FILTER (WHERE n <= {LEXICAL_FINDING_TERMS})) AS rare_words, "
    "to_tsquery('simple', string_agg(quote_literal(lex), ' | ')) AS telling_words "
    f"FROM ranked WHERE n <= {LEXICAL_RANKING_TERMS})"
)


def _rank(search_vector: str) -> str:
    """SQL: ts_rank of the telling words in a posting's search column, scaled (`x`; the
    relevance is x / (1 + x), in 0-1)."""
    return f"{LEXICAL_RANK_SCALE}::float8 * ts_rank({search_vector}, q.telling_words, 1)"


async def lexical_posting_candidates(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    model: str,
    query: np.ndarray,
    text: str,
    lat: float | None,
    lon: float | None,
    radius_km: float | None,
    limit: int,
    common: Sequence[str],
) -> tuple[list[Candidate], dict[UUID, float]]:
    """Active postings in reach that name one of the rarest words of `text` (full-text search,
    migration 0012), with their cosine to `query` and their lexical relevance (0-1).

    Postings are *found* by the `LEXICAL_FINDING_TERMS` rarest words, at most
    `LEXICAL_RANKED_AT_MOST` of them, and *ranked* by the `LEXICAL_RANKING_TERMS` rarest, ORed
    (`_SEEKER_WORDS`): a seeker's words need not all appear in a posting. Finding and ranking by
    every lexeme matched most of a large agency's postings on common words ("work", "team") and
    ranked them all on forty words. Same filters as `posting_candidates`.
    """
    distance = _HAVERSINE.format(t="r", lat="$7", lon="$8")
    rows = await conn.fetch(
        _SEEKER_WORDS + ", "
        "hit AS (SELECT r.id, r.external_id, r.version, r.search_vector FROM posting r, q "
        "WHERE r.agency_id = $1 AND r.search_vector @@ q.rare_words "
        "AND (r.valid_through IS NULL OR r.valid_through > now()) "
        f"AND ($6::float8 IS NULL OR r.remote_allowed OR {distance} <= $6) LIMIT $10), "
        "m AS (SELECT hit.id, hit.external_id, hit.version, "
        f"{_rank('hit.search_vector')} AS x FROM hit, q ORDER BY x DESC, hit.id LIMIT $9) "
        "SELECT m.id, m.external_id, m.version, 1 - (e.embedding <=> $5::vector) AS cosine, "
        "m.x / (1 + m.x) AS relevance FROM m "
        "JOIN posting_embedding e ON e.agency_id = $1 AND e.posting_id = m.id AND e.model = $4",
        agency_id,
        text,
        list(common),  # jsonb, encoded by the pool's JSON codec
        model,
        query,
        radius_km,
        lat,
        lon,
        limit,
        LEXICAL_RANKED_AT_MOST,
    )
    found = [Candidate(r["id"], r["external_id"], r["version"], float(r["cosine"])) for r in rows]
    found.sort(key=lambda c: c.id)  # stable across runs; the scorer decides the order
    return found, {r["id"]: float(r["relevance"]) for r in rows}


async def lexical_relevance(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    text: str,
    common: Sequence[str],
    ids: Sequence[UUID],
) -> dict[UUID, float]:
    """The lexical relevance (0-1) of the postings `ids` (the vector search's candidates) for
    `text`, ranked as `lexical_posting_candidates` ranks what it finds; 0 for a posting that
    names none of the words."""
    rows = await conn.fetch(
        _SEEKER_WORDS + ", k AS (SELECT r.id, "
        f"coalesce({_rank('r.search_vector')}, 0) AS x "
        "FROM posting r, q WHERE r.agency_id = $1 AND r.id = ANY($4::uuid[])) "
        "SELECT k.id, k.x / (1 + k.x) AS relevance FROM k",
        agency_id,
        text,
        list(common),
        list(ids),
    )
    return {r["id"]: float(r["relevance"]) for r in rows}


async def profiles_of(
    conn: asyncpg.Connection, kind: str, *, agency_id: UUID, ids: list[UUID]
) -> list[tuple[UUID, int, dict[str, Any]]]:
    """(id, version, profile) of the candidates of `kind` that still exist. Read after retrieval
    rather than joined to it: the retrieval query then carries no profiles through its sort,
    and posting profiles already in memory are not read at all. Whole profiles: cutting the
    free text out in SQL (`profile - 'description'`) costs more than sending it."""
    table = {"posting": "posting", "seeker": "seeker"}[kind]  # never from input
    rows = await conn.fetch(
        f"SELECT id, version, profile FROM {table} WHERE agency_id = $1 AND id = ANY($2::uuid[])",
        agency_id,
        ids,
    )
    return [(r["id"], r["version"], r["profile"]) for r in rows]


async def active_posting_profiles(
    conn: asyncpg.Connection, *, after: UUID, limit: int
) -> list[tuple[UUID, int, dict[str, Any]]]:
    """(id, version, profile) of active postings of every agency, in id order after `after`
    (start from UUID(int=0)): one page of the walk that warms a process's posting cache. A
    plain `id > $1` stays an index bound in the generic plan a reused statement gets."""
    rows = await conn.fetch(
        "SELECT id, version, profile FROM posting "
        "WHERE id > $1 AND (valid_through IS NULL OR valid_through > now()) "
        "ORDER BY id LIMIT $2",
        after,
        limit,
    )
    return [(r["id"], r["version"], r["profile"]) for r in rows]


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
    distance = _HAVERSINE.format(t="r", lat="$3", lon="$4")
    rows = await conn.fetch(
        "SELECT r.id, r.external_id, r.version FROM posting r WHERE r.agency_id = $1 "
        "AND (r.valid_through IS NULL OR r.valid_through > now()) "
        f"AND ($2::float8 IS NULL OR r.remote_allowed OR r.lat IS NULL OR {distance} <= $2) "
        f"ORDER BY CASE WHEN $3::float8 IS NULL OR r.lat IS NULL THEN 0 ELSE {distance} END, "
        "r.profile->>'date_posted' DESC NULLS LAST, r.id LIMIT $5",
        agency_id,
        radius_km,
        lat,
        lon,
        limit,
    )
    return [Candidate(r["id"], r["external_id"], r["version"], 0.0) for r in rows]


@dataclass(frozen=True, slots=True)
class SeekerCandidate:
    candidate: Candidate
    profile: dict[str, Any]
    protected: dict[str, Any] | None  # consented protected attributes; None when not given


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
) -> list[SeekerCandidate]:
    """Seekers nearest in meaning whose own radius reaches the posting (any, if remote); the
    filter reads the columns beside each vector, like `posting_candidates`.

    Each comes with its profile and its protected attributes (only with consent), joined
    after the search's LIMIT: one round trip instead of three (seeker profiles are never kept
    in memory, so every list reads them). Protected data only re-orders scored lists and
    counts placements; it never enters a score (service/match_lists/service.py)."""
    distance = _HAVERSINE.format(t="e", lat="$5", lon="$6")
    nearness, same_width = nearest_by_cosine("e", len(query))
    protected = ", ".join(f"p.{f}" for f in PROTECTED_FIELDS)  # fixed names, never input
    rows = await conn.fetch(
        "SELECT r.id, r.external_id, r.version, 1 - c.distance AS cosine, r.profile, "
        f"p.seeker_id IS NOT NULL AS consented, {protected} FROM ("
        + _nearest_indexed_and_waiting(
            f"SELECT e.seeker_id, {nearness} AS distance FROM seeker_embedding e "
            f"WHERE e.agency_id = $1 AND e.model = $2 AND {same_width} "
            "AND ($4 OR $5::float8 IS NULL OR e.lat IS NULL "
            f"OR {distance} <= coalesce(e.max_distance_km, $7))",
            nearness,
            "$8",
        )
        + ") c "
        "JOIN seeker r ON r.agency_id = $1 AND r.id = c.seeker_id "
        "LEFT JOIN seeker_protected p ON p.seeker_id = r.id AND p.agency_id = $1 AND p.consent "
        "ORDER BY c.distance, r.id",
        agency_id,
        model,
        query,
        remote,
        lat,
        lon,
        default_radius_km,
        limit,
    )
    return [
        SeekerCandidate(
            Candidate(r["id"], r["external_id"], r["version"], float(r["cosine"])),
            r["profile"],
            {f: r[f] for f in PROTECTED_FIELDS} if r["consented"] else None,
        )
        for r in rows
    ]
