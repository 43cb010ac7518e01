"""The scoring-model registry, activations, and the training data drawn from feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel


class StoredModel(BaseModel):
    id: UUID
    version: str
    kind: str
    artifact: dict[str, Any]
    report: dict[str, Any]
    created_at: datetime
    created_by: UUID | None
    job_id: UUID | None


class Activation(BaseModel):
    seq: int
    model_id: UUID | None
    activated_at: datetime
    activated_by: UUID | None
    acted_by: str | None
    forced: bool
    reason: str | None


_MODEL = "id, version, kind, artifact, report, created_at, created_by, job_id"


async def insert(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    version: str,
    artifact: dict[str, Any],
    report: dict[str, Any],
    created_by: UUID | None,
    job_id: UUID | None,
) -> StoredModel:
    row = await conn.fetchrow(
        "INSERT INTO scoring_model (id, agency_id, version, kind, artifact, report, created_by, "
        f"job_id) VALUES ($1, $2, $3, 'linear', $4, $5, $6, $7) RETURNING {_MODEL}",
        uuid4(),
        agency_id,
        version,
        artifact,
        report,
        created_by,
        job_id,
    )
    return StoredModel(**dict(row))


async def count(conn: asyncpg.Connection, *, agency_id: UUID) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM scoring_model WHERE agency_id = $1", agency_id)
    )


async def all_models(conn: asyncpg.Connection, *, agency_id: UUID) -> list[StoredModel]:
    rows = await conn.fetch(
        f"SELECT {_MODEL} FROM scoring_model WHERE agency_id = $1 ORDER BY created_at DESC",
        agency_id,
    )
    return [StoredModel(**dict(r)) for r in rows]


async def get(conn: asyncpg.Connection, *, agency_id: UUID, model_id: UUID) -> StoredModel | None:
    row = await conn.fetchrow(
        f"SELECT {_MODEL} FROM scoring_model WHERE id = $1 AND agency_id = $2",
        model_id,
        agency_id,
    )
    return StoredModel(**dict(row)) if row else None


async def active(conn: asyncpg.Connection, *, agency_id: UUID) -> Activation | None:
    row = await conn.fetchrow(
        "SELECT seq, model_id, activated_at, activated_by, acted_by, forced, reason "
        "FROM model_activation WHERE agency_id = $1 ORDER BY seq DESC LIMIT 1",
        agency_id,
    )
    return Activation(**dict(row)) if row else None


async def activations(
    conn: asyncpg.Connection, *, agency_id: UUID, limit: int = 100
) -> list[Activation]:
    rows = await conn.fetch(
        "SELECT seq, model_id, activated_at, activated_by, acted_by, forced, reason "
        "FROM model_activation WHERE agency_id = $1 ORDER BY seq DESC LIMIT $2",
        agency_id,
        limit,
    )
    return [Activation(**dict(r)) for r in rows]


async def active_model_id(conn: asyncpg.Connection, *, agency_id: UUID) -> UUID | None:
    """The live learned model's id; None when the default scorer is live."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT model_id FROM model_activation WHERE agency_id = $1 ORDER BY seq DESC LIMIT 1",
        agency_id,
    )


async def artifact_of(
    conn: asyncpg.Connection, *, agency_id: UUID, model_id: UUID
) -> dict[str, Any] | None:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "SELECT artifact FROM scoring_model WHERE agency_id = $1 AND id = $2", agency_id, model_id
    )


async def activate(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    model_id: UUID | None,
    activated_by: UUID,
    acted_by: str | None,
    forced: bool,
    reason: str | None,
) -> Activation:
    row = await conn.fetchrow(
        "INSERT INTO model_activation (agency_id, model_id, activated_by, acted_by, forced, "
        "reason) VALUES ($1, $2, $3, $4, $5, $6) "
        "RETURNING seq, model_id, activated_at, activated_by, acted_by, forced, reason",
        agency_id,
        model_id,
        activated_by,
        acted_by,
        forced,
        reason,
    )
    return Activation(**dict(row))


async def labelled_items(conn: asyncpg.Connection, *, agency_id: UUID) -> list[dict[str, Any]]:
    """Match items of personalised lists with any decision or outcome, with their events.

    Only the stored pair features are taken; protected attributes come apart (consenting
    seekers only) for the fairness evaluation. Erased seekers' items no longer exist.
    """
    rows = await conn.fetch(
        """
        SELECT i.match_list_id, l.created_at, i.seeker_id, i.posting_id, i.features,
               p.gender, p.age_band, p.disability, p.migrant_background, ev.events
        FROM match_item i
        JOIN match_list l ON l.agency_id = i.agency_id AND l.id = i.match_list_id
        LEFT JOIN seeker_protected p
            ON p.agency_id = i.agency_id AND p.seeker_id = i.seeker_id AND p.consent
        CROSS JOIN LATERAL (
            SELECT array(
                SELECT d.action FROM decision d
                WHERE d.agency_id = i.agency_id AND d.match_list_id = i.match_list_id
                    AND d.rank = i.rank
                UNION ALL
                SELECT o.outcome FROM outcome o
                WHERE o.agency_id = i.agency_id AND o.seeker_id = i.seeker_id
                    AND o.posting_id = i.posting_id
                  AND o.agency_id = l.agency_id
            ) AS events
        ) ev
        WHERE l.agency_id = $1 AND l.personalised AND cardinality(ev.events) > 0
        ORDER BY l.created_at, i.match_list_id, i.rank
        """,
        agency_id,
    )
    return [dict(r) for r in rows]
