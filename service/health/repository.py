"""The one query of the probes."""

from __future__ import annotations

import asyncpg


async def ping(conn: asyncpg.Connection) -> None:
    await conn.fetchval("SELECT 1")


async def queue_by_kind(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Jobs waiting or running, per kind and status, with the age of the oldest in seconds."""
    return await conn.fetch(  # type: ignore[no-any-return]
        "SELECT kind, status, count(*) AS jobs, "
        "extract(epoch FROM now() - min(created_at))::float8 AS oldest_s "
        "FROM job WHERE status IN ('queued', 'running') GROUP BY kind, status"
    )


async def live_models(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Each agency and the version of the scoring model it ranks with (NULL: the default)."""
    return await conn.fetch(  # type: ignore[no-any-return]
        "SELECT a.id AS agency_id, m.version FROM agency a "
        "LEFT JOIN LATERAL (SELECT model_id FROM model_activation x WHERE x.agency_id = a.id "
        "ORDER BY x.seq DESC LIMIT 1) live ON true "
        "LEFT JOIN scoring_model m ON m.agency_id = a.id AND m.id = live.model_id"
    )
