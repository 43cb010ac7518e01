"""Console sessions: stored by the hash of their token, joined to a key that is still valid."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from service.auth.permissions import Role


class StoredSession(BaseModel):
    agency_id: UUID
    api_key_id: UUID
    role: Role
    person: str
    created_at: datetime
    expires_at: datetime


async def insert(
    conn: asyncpg.Connection,
    *,
    token_hash: bytes,
    agency_id: UUID,
    api_key_id: UUID,
    person: str,
    expires_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO console_session (token_hash, agency_id, api_key_id, person, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        token_hash,
        agency_id,
        api_key_id,
        person,
        expires_at,
    )


async def get(conn: asyncpg.Connection, *, token_hash: bytes) -> StoredSession | None:
    """The session, if it has not expired and its key is not revoked."""
    row = await conn.fetchrow(
        "SELECT s.agency_id, s.api_key_id, k.role, s.person, s.created_at, s.expires_at "
        "FROM console_session s JOIN api_key k ON k.id = s.api_key_id "
        "AND k.agency_id = s.agency_id "
        "WHERE s.token_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL",
        token_hash,
    )
    return StoredSession(**dict(row)) if row is not None else None


async def delete(conn: asyncpg.Connection, *, token_hash: bytes) -> bool:
    status = await conn.execute("DELETE FROM console_session WHERE token_hash = $1", token_hash)
    return bool(status.endswith(" 1"))


async def delete_expired(conn: asyncpg.Connection) -> int:
    status = await conn.execute("DELETE FROM console_session WHERE expires_at <= now()")
    return int(status.split()[-1])
