"""Seekers and postings: the two record kinds agencies write, with their embeddings.

Both kinds share one shape of storage (a JSONB profile, a few columns mirrored for filtering, an
embedding per model), so the SQL is written once with the table name taken from a fixed set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid4

import asyncpg
import numpy as np
import orjson

Kind = Literal["seeker", "posting"]


@dataclass(frozen=True, slots=True)
class Row:
    id: UUID
    external_id: str
    profile: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewRecord:
    external_id: str
    profile: dict[str, Any]
    columns: dict[str, Any]  # mirrored filter columns, see MIRRORED


# Columns copied out of the profile so that SQL can filter on them, with their PostgreSQL types
# (for the arrays `insert_many` sends). Names fixed here, never input.
MIRRORED: dict[Kind, dict[str, str]] = {
    "seeker": {
        "lat": "float8",
        "lon": "float8",
        "max_distance_km": "float8",
        "personalised_ranking": "bool",
    },
    "posting": {
        "lat": "float8",
        "lon": "float8",
        "remote_allowed": "bool",
        "valid_through": "timestamptz",
    },
}
_SELECT = ", ".join(Row.__slots__)
# The same columns of a record aliased `r`, for queries that join it (here and in db.agencies).
SELECT_R = ", ".join(f"r.{c}" for c in Row.__slots__)


def row_of(record: asyncpg.Record) -> Row:
    return Row(**{k: record[k] for k in Row.__slots__})


async def insert(
    conn: asyncpg.Connection,
    kind: Kind,
    *,
    agency_id: UUID,
    record: NewRecord,
    record_id: UUID | None = None,
) -> Row | None:
    """The new record, or None when the agency already has one with its external_id.

    The conflict is detected without raising a unique violation, so that PostgreSQL's own log
    never records the (personal) external id of an expected duplicate.
    """
    cols = MIRRORED[kind]
    placeholders = ", ".join(f"${i + 5}" for i in range(len(cols)))
    row = await conn.fetchrow(
        f"INSERT INTO {kind} (id, agency_id, external_id, profile, {', '.join(cols)}) "
        f"VALUES ($1, $2, $3, $4, {placeholders}) "
        f"ON CONFLICT (agency_id, external_id) DO NOTHING RETURNING {_SELECT}",
        record_id or uuid4(),
        agency_id,
        record.external_id,
        record.profile,
        *(record.columns[c] for c in cols),
    )
    return row_of(row) if row else None


async def insert_many(
    conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, records: Sequence[NewRecord]
) -> list[UUID | None]:
    """`insert` for many records in one statement (a bulk import's chunk: one round trip,
    not one per record): each new record's id, or None where the agency already has its
    external_id (or an earlier record of `records` took it)."""
    cols = MIRRORED[kind]
    ids = [uuid4() for _ in records]
    arrays = ", ".join(f"${i + 5}::{t}[]" for i, t in enumerate(cols.values()))
    returned = await conn.fetch(
        f"INSERT INTO {kind} (id, agency_id, external_id, profile, {', '.join(cols)}) "
        f"SELECT r.id, $1, r.external_id, r.profile::jsonb, {', '.join(f'r.{c}' for c in cols)} "
        f"FROM unnest($2::uuid[], $3::text[], $4::text[], {arrays}) "
        f"AS r(id, external_id, profile, {', '.join(cols)}) "
        "ON CONFLICT (agency_id, external_id) DO NOTHING RETURNING id",
        agency_id,
        ids,
        [r.external_id for r in records],
        [orjson.dumps(r.profile).decode() for r in records],
        *([r.columns[c] for r in records] for c in cols),
    )
    stored = {row["id"] for row in returned}
    return [i if i in stored else None for i in ids]


async def external_id_taken(
    conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, external_id: str, other_than: UUID
) -> bool:
    """Whether another record of the agency has this external_id (checked before a replace)."""
    return bool(
        await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {kind} WHERE agency_id = $1 AND external_id = $2 "
            "AND id <> $3)",
            agency_id,
            external_id,
            other_than,
        )
    )


async def replace(
    conn: asyncpg.Connection,
    kind: Kind,
    *,
    agency_id: UUID,
    record_id: UUID,
    record: NewRecord,
    expected_version: int | None = None,
) -> Row | None:
    """Overwrite a record; None when it does not exist (or its version is not the expected one)."""
    cols = MIRRORED[kind]
    sets = ", ".join(f"{c} = ${i + 6}" for i, c in enumerate(cols))
    row = await conn.fetchrow(
        f"UPDATE {kind} SET external_id = $3, profile = $4, {sets}, "
        "version = version + 1, updated_at = now() "
        "WHERE id = $1 AND agency_id = $2 AND ($5::int IS NULL OR version = $5) "
        f"RETURNING {_SELECT}",
        record_id,
        agency_id,
        record.external_id,
        record.profile,
        expected_version,
        *(record.columns[c] for c in cols),
    )
    return row_of(row) if row else None


async def get(
    conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, record_id: UUID, lock: bool = False
) -> Row | None:
    row = await conn.fetchrow(
        f"SELECT {_SELECT} FROM {kind} WHERE id = $1 AND agency_id = $2"
        + (" FOR UPDATE" if lock else ""),
        record_id,
        agency_id,
    )
    return row_of(row) if row else None


async def get_with_embedding(
    conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, record_id: UUID, model: str
) -> tuple[Row, np.ndarray | None] | None:
    """A record and its `model` vector (None while it has none) in one round trip: the first
    read of every match request."""
    row = await conn.fetchrow(
        f"SELECT {SELECT_R}, e.embedding FROM {kind} r LEFT JOIN {kind}_embedding e "
        f"ON e.agency_id = r.agency_id AND e.{kind}_id = r.id AND e.model = $3 "
        "WHERE r.id = $1 AND r.agency_id = $2",
        record_id,
        agency_id,
        model,
    )
    return None if row is None else (row_of(row), as_vector(row["embedding"]))


async def get_many(
    conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, record_ids: Sequence[UUID]
) -> dict[UUID, Row]:
    rows = await conn.fetch(
        f"SELECT {_SELECT} FROM {kind} WHERE agency_id = $1 AND id = ANY($2::uuid[])",
        agency_id,
        list(record_ids),
    )
    return {r["id"]: row_of(r) for r in rows}


async def delete(conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, record_id: UUID) -> bool:
    status = await conn.execute(
        f"DELETE FROM {kind} WHERE id = $1 AND agency_id = $2", record_id, agency_id
    )
    return bool(status.endswith(" 1"))


async def page(
    conn: asyncpg.Connection,
    kind: Kind,
    *,
    agency_id: UUID,
    limit: int,
    after: tuple[datetime, UUID] | None,
    external_id: str | None = None,
) -> list[Row]:
    """Keyset pagination in creation order; fetches limit + 1 to know whether more follow."""
    rows = await conn.fetch(
        f"SELECT {_SELECT} FROM {kind} WHERE agency_id = $1 "
        "AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid)) "
        "AND ($4::text IS NULL OR external_id = $4) "
        "ORDER BY created_at, id LIMIT $5",
        agency_id,
        after[0] if after else None,
        after[1] if after else None,
        external_id,
        limit + 1,
    )
    return [row_of(r) for r in rows]


async def existing_external_ids(
    conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, external_ids: Sequence[str]
) -> set[str]:
    rows = await conn.fetch(
        f"SELECT external_id FROM {kind} WHERE agency_id = $1 AND external_id = ANY($2::text[])",
        agency_id,
        list(external_ids),
    )
    return {r["external_id"] for r in rows}


async def upsert_embeddings(
    conn: asyncpg.Connection,
    kind: Kind,
    *,
    agency_id: UUID,
    model: str,
    record_ids: Sequence[UUID],
    vectors: np.ndarray,
    indexed: bool = True,
) -> None:
    """Store the vectors; `indexed=False` leaves them out of the HNSW index until the job
    worker adds them (migration 0020): a bulk import's vectors, which a search still finds."""
    await conn.executemany(
        f"INSERT INTO {kind}_embedding ({kind}_id, agency_id, model, embedding, indexed) "
        "VALUES ($1, $2, $3, $4::vector, $5) "
        f"ON CONFLICT (agency_id, {kind}_id, model) DO UPDATE SET embedding = EXCLUDED.embedding, "
        "indexed = EXCLUDED.indexed, created_at = now()",
        [
            (rid, agency_id, model, vec, indexed)
            for rid, vec in zip(record_ids, vectors, strict=True)
        ],
    )


async def embedding_of(
    conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, record_id: UUID, model: str
) -> np.ndarray | None:
    value = await conn.fetchval(
        f"SELECT embedding FROM {kind}_embedding "
        f"WHERE agency_id = $1 AND {kind}_id = $2 AND model = $3",
        agency_id,
        record_id,
        model,
    )
    return as_vector(value)


def as_vector(value: Any) -> np.ndarray | None:
    """A pgvector value as matching's float32 array."""
    return None if value is None else np.asarray(value.to_numpy(), dtype=np.float32)


async def missing_embeddings(
    conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, model: str, limit: int
) -> list[Row]:
    """Records of the agency without a vector from `model` (a batch of at most `limit`)."""
    rows = await conn.fetch(
        f"SELECT {_SELECT} FROM {kind} r WHERE r.agency_id = $1 AND NOT EXISTS ("
        f"SELECT 1 FROM {kind}_embedding e WHERE e.agency_id = r.agency_id "
        f"AND e.{kind}_id = r.id AND e.model = $2) "
        "ORDER BY r.id LIMIT $3",
        agency_id,
        model,
        limit,
    )
    return [row_of(r) for r in rows]


async def count_missing_embeddings(
    conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, model: str
) -> int:
    return int(
        await conn.fetchval(
            f"SELECT count(*) FROM {kind} r WHERE r.agency_id = $1 AND NOT EXISTS ("
            f"SELECT 1 FROM {kind}_embedding e WHERE e.agency_id = r.agency_id "
            f"AND e.{kind}_id = r.id AND e.model = $2)",
            agency_id,
            model,
        )
    )


async def previous_model(
    conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, other_than: str
) -> str | None:
    """The model that made most of the agency's other vectors (the one to keep serving)."""
    value = await conn.fetchval(
        f"SELECT model FROM {kind}_embedding WHERE agency_id = $1 AND model <> $2 "
        "GROUP BY model ORDER BY count(*) DESC LIMIT 1",
        agency_id,
        other_than,
    )
    return str(value) if value is not None else None


async def drop_other_models(
    conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, keep: str
) -> None:
    await conn.execute(
        f"DELETE FROM {kind}_embedding WHERE agency_id = $1 AND model <> $2", agency_id, keep
    )


async def agencies_missing_embeddings(conn: asyncpg.Connection, *, model: str) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT DISTINCT r.agency_id FROM seeker r WHERE NOT EXISTS (SELECT 1 FROM "
        "seeker_embedding e WHERE e.agency_id = r.agency_id AND e.seeker_id = r.id "
        "AND e.model = $1) "
        "UNION SELECT DISTINCT r.agency_id FROM posting r WHERE NOT EXISTS (SELECT 1 FROM "
        "posting_embedding e WHERE e.agency_id = r.agency_id AND e.posting_id = r.id "
        "AND e.model = $1)",
        model,
    )
    return [r["agency_id"] for r in rows]
