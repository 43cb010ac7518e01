"""The posting vectors as every process reads them into memory: all of them once, then what
changed since (written and deleted), by transaction ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast
from uuid import UUID

import asyncpg
import numpy as np

from service.match_lists.candidates_repository import ACTIVE
from service.records.repository import Kind, as_vector


@dataclass(frozen=True, slots=True)
class PostingVector:
    posting_id: UUID
    agency_id: UUID
    embedding: np.ndarray
    lat: float | None
    lon: float | None
    remote_allowed: bool
    valid_through: datetime | None
    version: int  # of the posting
    external_id: str


@dataclass(frozen=True, slots=True)
class VectorSnapshot:
    """What a reader of posting vectors has seen: every change by a transaction that had ended
    when it read, except those of `running` (still in progress then). The next read needs the
    rows changed by those or by any transaction from `next_xid` on (migration 0009)."""

    next_xid: int
    running: tuple[int, ...]


_VECTOR_COLUMNS = (
    "e.posting_id, e.agency_id, e.embedding, e.lat, e.lon, e.remote_allowed, e.valid_through, "
    "e.version, e.external_id"
)

# Vector rows with their posting's version and external id (alias `e`).
_WITH_POSTING = (
    "SELECT e.*, r.version, r.external_id FROM posting_embedding e "
    "JOIN posting r ON r.agency_id = e.agency_id AND r.id = e.posting_id"
)

_SNAPSHOT = (
    "pg_snapshot_xmax(s.snap)::text AS next_xid, "
    "ARRAY(SELECT x::text FROM pg_snapshot_xip(s.snap) x) AS running"
)


def _vectors(rows: list[asyncpg.Record]) -> tuple[VectorSnapshot, list[PostingVector]]:
    first = rows[0]
    snapshot = VectorSnapshot(int(first["next_xid"]), tuple(int(x) for x in first["running"]))
    vectors = [
        PostingVector(
            r["posting_id"],
            r["agency_id"],
            cast(np.ndarray, as_vector(r["embedding"])),
            r["lat"],
            r["lon"],
            r["remote_allowed"],
            r["valid_through"],
            r["version"],
            r["external_id"],
        )
        for r in rows
        if r["posting_id"] is not None
    ]
    return snapshot, vectors


async def active_posting_vectors(
    conn: asyncpg.Connection, *, model: str, after: UUID, limit: int
) -> tuple[VectorSnapshot, list[PostingVector]]:
    """One page (in id order after `after`) of the active postings' `model` vectors, with the
    snapshot it was read in."""
    rows = await conn.fetch(
        f"WITH s AS (SELECT pg_current_snapshot() AS snap) SELECT {_SNAPSHOT}, {_VECTOR_COLUMNS} "
        f"FROM s LEFT JOIN LATERAL ({_WITH_POSTING} WHERE e.model = $1 "
        f"AND e.posting_id > $2 AND {ACTIVE} ORDER BY e.posting_id LIMIT $3) e ON true",
        model,
        after,
        limit,
    )
    return _vectors(rows)


async def posting_vectors_changed(
    conn: asyncpg.Connection, *, model: str, since: VectorSnapshot
) -> tuple[VectorSnapshot, list[PostingVector], list[UUID]]:
    """The `model` vectors written since `since` (inserted, re-embedded, moved, expired, or
    their posting changed: migration 0011), active or not, and the ids of those deleted since
    (migration 0010), with the snapshot of this read. Usually none of either: two index
    probes, one round trip."""
    newer = "{xid} >= $2::text::xid8 OR {xid} = ANY($3::text[]::xid8[])"
    rows = await conn.fetch(
        "WITH s AS (SELECT pg_current_snapshot() AS snap, ARRAY(SELECT d.posting_id "
        "FROM posting_vector_deleted d WHERE d.model = $1 "
        f"AND ({newer.format(xid='d.deleted_xid')})) AS deleted) "
        f"SELECT {_SNAPSHOT}, s.deleted, {_VECTOR_COLUMNS} "
        f"FROM s LEFT JOIN LATERAL ({_WITH_POSTING} WHERE e.model = $1 "
        f"AND ({newer.format(xid='e.changed_xid')})) e ON true",
        model,
        str(since.next_xid),
        [str(x) for x in since.running],
    )
    snapshot, written = _vectors(rows)
    return snapshot, written, list(rows[0]["deleted"])


async def agency_with_waiting_vectors(conn: asyncpg.Connection, kind: Kind) -> UUID | None:
    """An agency with `kind` vectors stored outside the HNSW index (a bulk import's, migration
    0020), if any; found by their partial index."""
    return cast(
        UUID | None,
        await conn.fetchval(f"SELECT agency_id FROM {kind}_embedding WHERE NOT indexed LIMIT 1"),
    )


async def take_index_turn(conn: asyncpg.Connection) -> bool:
    """Whether this transaction may add vectors to the HNSW index: one at a time across all
    processes, so that the workers of a busy machine leave PostgreSQL's other cores to the
    requests."""
    return bool(
        await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('jobmatch.index_vectors'))")
    )


async def index_waiting_vectors(
    conn: asyncpg.Connection, kind: Kind, *, agency_id: UUID, limit: int
) -> int:
    """Add up to `limit` of the agency's waiting `kind` vectors to the HNSW index (PostgreSQL
    inserts them into the graph as the rows are written); how many. Rows another worker is
    adding are skipped."""
    status = await conn.execute(
        f"UPDATE {kind}_embedding e SET indexed = true FROM (SELECT {kind}_id, model "
        f"FROM {kind}_embedding WHERE agency_id = $1 AND NOT indexed LIMIT $2 "
        "FOR UPDATE SKIP LOCKED) w "
        f"WHERE e.agency_id = $1 AND e.{kind}_id = w.{kind}_id AND e.model = w.model",
        agency_id,
        limit,
    )
    return int(status.split()[-1])


async def vectors_waiting_for_index(conn: asyncpg.Connection) -> dict[Kind, int]:
    """How many vectors of all agencies wait to join the HNSW index, per record kind."""
    rows = await conn.fetch(
        "SELECT 'seeker' AS kind, count(*) AS n FROM seeker_embedding WHERE NOT indexed "
        "UNION ALL SELECT 'posting', count(*) FROM posting_embedding WHERE NOT indexed"
    )
    return {r["kind"]: int(r["n"]) for r in rows}
