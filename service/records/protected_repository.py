"""Seekers' protected attributes, stored apart and only with consent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

FIELDS = ("gender", "age_band", "disability", "migrant_background")


async def put(
    conn: asyncpg.Connection, *, agency_id: UUID, seeker_id: UUID, data: dict[str, Any] | None
) -> None:
    """Store, replace or (data None) remove; without consent only the refusal is kept."""
    if data is None:
        await conn.execute(
            "DELETE FROM seeker_protected WHERE agency_id = $1 AND seeker_id = $2",
            agency_id,
            seeker_id,
        )
        return
    consent = bool(data.get("consent"))
    values = [data.get(f) if consent else None for f in FIELDS]
    await conn.execute(
        """
        INSERT INTO seeker_protected
            (seeker_id, agency_id, consent, gender, age_band, disability, migrant_background)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (agency_id, seeker_id) DO UPDATE SET consent = EXCLUDED.consent,
            gender = EXCLUDED.gender, age_band = EXCLUDED.age_band,
            disability = EXCLUDED.disability, migrant_background = EXCLUDED.migrant_background,
            updated_at = now()
        """,
        seeker_id,
        agency_id,
        consent,
        *values,
    )


async def get(
    conn: asyncpg.Connection, *, agency_id: UUID, seeker_id: UUID
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT consent, gender, age_band, disability, migrant_background "
        "FROM seeker_protected WHERE agency_id = $1 AND seeker_id = $2",
        agency_id,
        seeker_id,
    )
    if row is None:
        return None
    return {k: v for k, v in dict(row).items() if v is not None}


async def get_all(
    conn: asyncpg.Connection, *, agency_id: UUID, seeker_ids: Sequence[UUID]
) -> dict[UUID, dict[str, Any]]:
    """Stored protected data (consent refusals included) of many seekers, for display."""
    rows = await conn.fetch(
        "SELECT seeker_id, consent, gender, age_band, disability, migrant_background "
        "FROM seeker_protected WHERE agency_id = $1 AND seeker_id = ANY($2::uuid[])",
        agency_id,
        list(seeker_ids),
    )
    return {
        r["seeker_id"]: {k: v for k, v in dict(r).items() if k != "seeker_id" and v is not None}
        for r in rows
    }
