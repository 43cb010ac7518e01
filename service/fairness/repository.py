"""Fairness policies: an append-only history per agency; the highest version is in force."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel


class StoredPolicy(BaseModel):
    version: int
    policy: dict[str, Any]
    created_at: datetime
    created_by: UUID | None
    acted_by: str | None


async def current(conn: asyncpg.Connection, *, agency_id: UUID) -> StoredPolicy | None:
    row = await conn.fetchrow(
        "SELECT version, policy, created_at, created_by, acted_by FROM fairness_policy "
        "WHERE agency_id = $1 ORDER BY version DESC LIMIT 1",
        agency_id,
    )
    return StoredPolicy(**dict(row)) if row else None


async def history(conn: asyncpg.Connection, *, agency_id: UUID) -> list[StoredPolicy]:
    rows = await conn.fetch(
        "SELECT version, policy, created_at, created_by, acted_by FROM fairness_policy "
        "WHERE agency_id = $1 ORDER BY version DESC",
        agency_id,
    )
    return [StoredPolicy(**dict(r)) for r in rows]


async def put(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    policy: dict[str, Any],
    created_by: UUID,
    acted_by: str | None,
) -> StoredPolicy:
    """A new version. Call inside a transaction: the agency row lock serialises writers."""
    await conn.execute("SELECT 1 FROM agency WHERE id = $1 FOR UPDATE", agency_id)
    row = await conn.fetchrow(
        """
        INSERT INTO fairness_policy (agency_id, version, policy, created_by, acted_by)
        SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM fairness_policy
        WHERE agency_id = $1
        RETURNING version, policy, created_at, created_by, acted_by
        """,
        agency_id,
        policy,
        created_by,
        acted_by,
    )
    return StoredPolicy(**dict(row))
