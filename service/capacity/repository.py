"""Capacity policies (append-only per agency, like the fairness policy), congestion prices
stored with a version, and the market counts they are computed from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel

# Price sets kept per agency: the newest serves, the ones before it say how prices moved.
KEPT_PRICE_SETS = 3


class StoredPolicy(BaseModel):
    version: int
    policy: dict[str, Any]
    created_at: datetime
    created_by: UUID | None


class StoredPriceSet(BaseModel):
    version: int
    policy_version: int
    created_at: datetime
    summary: dict[str, Any]


class ServingContext(BaseModel):
    """What the seeker match route needs before it looks at candidates."""

    policy: StoredPolicy | None
    price_version: int | None
    last_applied_at: datetime | None


class PostingCapacity(BaseModel):
    posting_id: UUID
    price: float
    exposure: float | None  # as of the price set; None when not in it
    applications: int  # live, over the window


class DemandList(BaseModel):
    list_id: UUID
    seeker_id: UUID
    candidates: list[list[Any]] | None  # [[posting_id, score], ...] when the list kept them


class MarketPosting(BaseModel):
    id: UUID
    openings: int


_POLICY_COLS = "version, policy, created_at, created_by"


async def current(conn: asyncpg.Connection, *, agency_id: UUID) -> StoredPolicy | None:
    row = await conn.fetchrow(
        f"SELECT {_POLICY_COLS} FROM capacity_policy "
        "WHERE agency_id = $1 ORDER BY version DESC LIMIT 1",
        agency_id,
    )
    return StoredPolicy(**dict(row)) if row else None


async def history(conn: asyncpg.Connection, *, agency_id: UUID) -> list[StoredPolicy]:
    rows = await conn.fetch(
        f"SELECT {_POLICY_COLS} FROM capacity_policy WHERE agency_id = $1 ORDER BY version DESC",
        agency_id,
    )
    return [StoredPolicy(**dict(r)) for r in rows]


async def put(
    conn: asyncpg.Connection, *, agency_id: UUID, policy: dict[str, Any], created_by: UUID
) -> StoredPolicy:
    """A new version. Call inside a transaction: the agency row lock serialises writers."""
    await conn.execute("SELECT 1 FROM agency WHERE id = $1 FOR UPDATE", agency_id)
    row = await conn.fetchrow(
        f"""
        INSERT INTO capacity_policy (agency_id, version, policy, created_by)
        SELECT $1, coalesce(max(version), 0) + 1, $2, $3 FROM capacity_policy WHERE agency_id = $1
        RETURNING {_POLICY_COLS}
        """,
        agency_id,
        policy,
        created_by,
    )
    return StoredPolicy(**dict(row))


async def latest_price_set(conn: asyncpg.Connection, *, agency_id: UUID) -> StoredPriceSet | None:
    row = await conn.fetchrow(
        "SELECT version, policy_version, created_at, summary FROM congestion_price_set "
        "WHERE agency_id = $1 ORDER BY version DESC LIMIT 1",
        agency_id,
    )
    return StoredPriceSet(**dict(row)) if row else None


async def serving_context(conn: asyncpg.Connection, *, agency_id: UUID) -> ServingContext:
    """The policy in force, the newest price version and the time of the newest application,
    in one round trip (the last two go into a stored list's input, so that a list is not
    answered again once prices or applications changed)."""
    row = await conn.fetchrow(
        f"""
        SELECT p.*,
            (SELECT max(version) FROM congestion_price_set s WHERE s.agency_id = $1)
                AS price_version,
            (SELECT max(created_at) FROM outcome o WHERE o.agency_id = $1
                AND o.outcome = 'applied') AS last_applied_at
        FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (SELECT {_POLICY_COLS} FROM capacity_policy WHERE agency_id = $1
            ORDER BY version DESC LIMIT 1) AS p ON true
        """,
        agency_id,
    )
    policy = (
        StoredPolicy(
            version=row["version"],
            policy=row["policy"],
            created_at=row["created_at"],
            created_by=row["created_by"],
        )
        if row["version"] is not None
        else None
    )
    return ServingContext(
        policy=policy, price_version=row["price_version"], last_applied_at=row["last_applied_at"]
    )


async def candidate_capacity(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    price_version: int | None,
    posting_ids: Sequence[UUID],
    window_days: int,
) -> dict[UUID, PostingCapacity]:
    """Price and exposure (from the price set) and live applications over the window, for a
    seeker's candidate postings: one query."""
    rows = await conn.fetch(
        """
        SELECT c.id AS posting_id, coalesce(pp.price, 0) AS price, pp.exposure,
            (SELECT count(*) FROM outcome o WHERE o.agency_id = $1 AND o.posting_id = c.id
                AND o.outcome = 'applied'
                AND o.created_at >= now() - make_interval(days => $4))::int AS applications
        FROM unnest($2::uuid[]) AS c(id)
        LEFT JOIN posting_price pp
            ON pp.agency_id = $1 AND pp.version = $3 AND pp.posting_id = c.id
        """,
        agency_id,
        list(posting_ids),
        price_version,
        window_days,
    )
    return {r["posting_id"]: PostingCapacity(**dict(r)) for r in rows}


async def market_postings(conn: asyncpg.Connection, *, agency_id: UUID) -> list[MarketPosting]:
    """The agency's active postings (not expired) with their openings (1 when not stated)."""
    rows = await conn.fetch(
        "SELECT id, greatest(coalesce((profile->>'openings')::int, 1), 1) AS openings "
        "FROM posting WHERE agency_id = $1 AND (valid_through IS NULL OR valid_through > now()) "
        "ORDER BY id",
        agency_id,
    )
    return [MarketPosting(**dict(r)) for r in rows]


async def demand(conn: asyncpg.Connection, *, agency_id: UUID, since: datetime) -> list[DemandList]:
    """Each seeker's newest job list since `since`: its raw candidates when it kept them."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (seeker_id) id AS list_id, seeker_id,
            capacity->'candidates' AS candidates
        FROM match_list
        WHERE agency_id = $1 AND kind = 'postings_for_seeker' AND created_at >= $2
        ORDER BY seeker_id, created_at DESC
        """,
        agency_id,
        since,
    )
    return [DemandList(**dict(r)) for r in rows]


async def list_items(
    conn: asyncpg.Connection, *, agency_id: UUID, list_ids: Sequence[UUID]
) -> list[tuple[UUID, UUID, float]]:
    """(list, posting, score) of the items of lists that kept no candidates."""
    rows = await conn.fetch(
        "SELECT match_list_id, posting_id, score FROM match_item "
        "WHERE agency_id = $1 AND match_list_id = ANY($2::uuid[])",
        agency_id,
        list(list_ids),
    )
    return [(r["match_list_id"], r["posting_id"], r["score"]) for r in rows]


async def exposure(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime
) -> dict[UUID, float]:
    """Rank-discounted exposure per posting: each stored job list since `since` adds
    1/log2(rank + 1) to each posting it lists."""
    rows = await conn.fetch(
        """
        SELECT i.posting_id, sum(1.0 / log(2, i.rank + 1))::float8 AS exposure
        FROM match_item i JOIN match_list l ON l.agency_id = i.agency_id AND l.id = i.match_list_id
        WHERE l.agency_id = $1 AND l.kind = 'postings_for_seeker' AND l.created_at >= $2
        GROUP BY i.posting_id
        """,
        agency_id,
        since,
    )
    return {r["posting_id"]: r["exposure"] for r in rows}


async def applications(
    conn: asyncpg.Connection, *, agency_id: UUID, since: datetime
) -> dict[UUID, int]:
    rows = await conn.fetch(
        "SELECT posting_id, count(*)::int AS n FROM outcome "
        "WHERE agency_id = $1 AND outcome = 'applied' AND created_at >= $2 GROUP BY posting_id",
        agency_id,
        since,
    )
    return {r["posting_id"]: r["n"] for r in rows}


async def store_prices(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    policy_version: int,
    job_id: UUID | None,
    summary: dict[str, Any],
    rows: Sequence[tuple[UUID, float, float, int, int]],
) -> StoredPriceSet:
    """A new price set: (posting, price, exposure, applications, openings) rows. Call inside a
    transaction; the oldest sets beyond KEPT_PRICE_SETS go."""
    await conn.execute("SELECT 1 FROM agency WHERE id = $1 FOR UPDATE", agency_id)
    row = await conn.fetchrow(
        """
        INSERT INTO congestion_price_set (agency_id, version, policy_version, job_id, summary)
        SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4
        FROM congestion_price_set WHERE agency_id = $1
        RETURNING version, policy_version, created_at, summary
        """,
        agency_id,
        policy_version,
        job_id,
        summary,
    )
    version = row["version"]
    await conn.execute(
        """
        INSERT INTO posting_price (agency_id, version, posting_id, price, exposure,
            applications, openings)
        SELECT $1, $2, t.posting_id, t.price, t.exposure, t.applications, t.openings
        FROM unnest($3::uuid[], $4::float8[], $5::float8[], $6::int[], $7::int[])
            AS t(posting_id, price, exposure, applications, openings)
        JOIN posting p ON p.agency_id = $1 AND p.id = t.posting_id
        """,
        agency_id,
        version,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
    )
    await conn.execute(
        "DELETE FROM congestion_price_set WHERE agency_id = $1 AND version <= $2",
        agency_id,
        version - KEPT_PRICE_SETS,
    )
    return StoredPriceSet(**dict(row))


async def prices(conn: asyncpg.Connection, *, agency_id: UUID, version: int) -> dict[UUID, float]:
    rows = await conn.fetch(
        "SELECT posting_id, price FROM posting_price WHERE agency_id = $1 AND version = $2",
        agency_id,
        version,
    )
    return {r["posting_id"]: r["price"] for r in rows}


async def balanced_agencies(conn: asyncpg.Connection) -> list[UUID]:
    """Agencies whose capacity policy in force is `balanced` (they need prices)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (agency_id) agency_id, policy->>'method' AS method
        FROM capacity_policy ORDER BY agency_id, version DESC
        """
    )
    return [r["agency_id"] for r in rows if r["method"] == "balanced"]
