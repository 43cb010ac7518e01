"""Idempotency keys of creates: claim (pending), complete (store the response), release."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True, slots=True)
class Stored:
    request_hash: str
    status: int | None  # None while the first request is still running
    response: Any
    headers: dict[str, str] | None


async def claim(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    key: str,
    request_hash: str,
    ttl_s: float,
    stale_s: float,
) -> Stored | None:
    """Claim the key for this request (None), or return what is stored under it.

    An expired row is forgotten first; a row still pending after `stale_s` (its process died
    mid-request) is taken over by a request with the same hash, unless it noted a location.
    """
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM idempotency_key WHERE agency_id = $1 AND key = $2 "
            "AND created_at < now() - make_interval(secs => $3)",
            agency_id,
            key,
            ttl_s,
        )
        claimed = await conn.fetchval(
            "INSERT INTO idempotency_key (agency_id, key, request_hash) VALUES ($1, $2, $3) "
            "ON CONFLICT (agency_id, key) DO UPDATE SET created_at = now() "
            "WHERE idempotency_key.status IS NULL "
            "AND idempotency_key.request_hash = EXCLUDED.request_hash "
            "AND idempotency_key.created_at < now() - make_interval(secs => $4) "
            # a request whose result is queued (a job) is never run twice
            "AND idempotency_key.headers->>'location' IS NULL "
            "RETURNING true",
            agency_id,
            key,
            request_hash,
            stale_s,
        )
    if claimed:
        return None
    return await get(conn, agency_id=agency_id, key=key)


async def get(conn: asyncpg.Connection, *, agency_id: UUID, key: str) -> Stored | None:
    row = await conn.fetchrow(
        "SELECT request_hash, status, response, headers FROM idempotency_key "
        "WHERE agency_id = $1 AND key = $2",
        agency_id,
        key,
    )
    return Stored(**dict(row)) if row else None


async def complete(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    key: str,
    status: int,
    response: Any,
    headers: dict[str, str],
) -> None:
    await conn.execute(
        "UPDATE idempotency_key SET status = $3, response = $4, headers = $5, "
        "completed_at = now() WHERE agency_id = $1 AND key = $2 AND status IS NULL",
        agency_id,
        key,
        status,
        response,
        headers,
    )


async def note_location(
    conn: asyncpg.Connection, *, agency_id: UUID, key: str, location: str
) -> None:
    """While pending: where the result of the request will be (a queued job)."""
    await conn.execute(
        "UPDATE idempotency_key SET headers = jsonb_build_object('location', $3::text) "
        "WHERE agency_id = $1 AND key = $2 AND status IS NULL",
        agency_id,
        key,
        location,
    )


async def release(conn: asyncpg.Connection, *, agency_id: UUID, key: str) -> None:
    """Forget a pending key whose request failed, so that a retry runs it again."""
    await conn.execute(
        "DELETE FROM idempotency_key WHERE agency_id = $1 AND key = $2 AND status IS NULL",
        agency_id,
        key,
    )


async def sweep(conn: asyncpg.Connection, *, ttl_s: float) -> None:
    """Delete expired keys of every agency."""
    await conn.execute(
        "DELETE FROM idempotency_key WHERE created_at < now() - make_interval(secs => $1)", ttl_s
    )


async def forget_responses_mentioning(
    conn: asyncpg.Connection, *, agency_id: UUID, needles: list[str], gone: dict[str, Any]
) -> int:
    """Erasure: stored responses that mention any of `needles` become a 410 problem document.

    The key itself stays (a retry must not create the record again); its request hash goes too.
    """
    status = await conn.execute(
        "UPDATE idempotency_key SET status = 410, response = $3, "
        'headers = \'{"content-type": "application/problem+json"}\'::jsonb, '
        "request_hash = '' WHERE agency_id = $1 AND response IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM unnest($2::text[]) n WHERE strpos(response::text, n) > 0)",
        agency_id,
        needles,
        gone,
    )
    return int(status.split()[-1])
