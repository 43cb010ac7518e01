"""Agencies and their API keys."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel

from service.auth.permissions import Principal, Role, hash_secret, new_secret
from service.records.repository import SELECT_R, Kind, Row, row_of


class Agency(BaseModel):
    id: UUID
    name: str
    created_at: datetime


class ApiKey(BaseModel):
    id: UUID
    agency_id: UUID
    role: Role
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    acted_by: str | None = None


class NewApiKey(ApiKey):
    secret: str


async def create_agency(conn: asyncpg.Connection, *, name: str) -> Agency:
    row = await conn.fetchrow(
        "INSERT INTO agency (id, name) VALUES ($1, $2) RETURNING id, name, created_at",
        uuid4(),
        name,
    )
    return Agency(**dict(row))


async def get_agency_by_name(conn: asyncpg.Connection, *, name: str) -> Agency | None:
    row = await conn.fetchrow("SELECT id, name, created_at FROM agency WHERE name = $1", name)
    return Agency(**dict(row)) if row else None


async def create_api_key(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    role: Role,
    name: str,
    created_by: UUID | None = None,
    acted_by: str | None = None,
) -> NewApiKey:
    secret, prefix, digest = new_secret()
    row = await conn.fetchrow(
        """
        INSERT INTO api_key (id, agency_id, role, name, prefix, secret_hash, created_by, acted_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        RETURNING id, agency_id, role, name, prefix, created_at, revoked_at, acted_by
        """,
        uuid4(),
        agency_id,
        role.value,
        name,
        prefix,
        digest,
        created_by,
        acted_by,
    )
    return NewApiKey(**dict(row), secret=secret)


async def principal_for_secret(conn: asyncpg.Connection, *, secret: str) -> Principal | None:
    row = await conn.fetchrow(
        "SELECT id, agency_id, role FROM api_key WHERE secret_hash = $1 AND revoked_at IS NULL",
        hash_secret(secret),
    )
    if row is None:
        return None
    return Principal(key_id=row["id"], agency_id=row["agency_id"], role=Role(row["role"]))


async def requires_acting_person(conn: asyncpg.Connection, *, agency_id: UUID) -> bool:
    return bool(
        await conn.fetchval("SELECT require_acting_person FROM agency WHERE id = $1", agency_id)
    )


async def auditor_reads_profiles(conn: asyncpg.Connection, *, agency_id: UUID) -> bool:
    return bool(
        await conn.fetchval("SELECT auditor_reads_profiles FROM agency WHERE id = $1", agency_id)
    )


async def principal_and_record(
    conn: asyncpg.Connection, *, secret: str, kind: Kind, record_id: UUID | None
) -> tuple[Principal | None, Row | None]:
    """The key's principal (None: unknown or revoked) and the record with that id in the key's
    agency (None: no such record there), in one round trip. The caller checks the principal
    (role, rate limit) before it uses the record."""
    row = await conn.fetchrow(
        f"SELECT k.id AS key_id, k.agency_id AS key_agency_id, k.role AS key_role, {SELECT_R} "
        f"FROM api_key k LEFT JOIN {kind} r ON r.id = $2 AND r.agency_id = k.agency_id "
        "WHERE k.secret_hash = $1 AND k.revoked_at IS NULL",
        hash_secret(secret),
        record_id,
    )
    if row is None:
        return None, None
    principal = Principal(
        key_id=row["key_id"], agency_id=row["key_agency_id"], role=Role(row["key_role"])
    )
    if row["id"] is None:
        return principal, None
    return principal, row_of(row)


async def revoke_keys_named(conn: asyncpg.Connection, *, agency_id: UUID, name: str) -> int:
    status = await conn.execute(
        "UPDATE api_key SET revoked_at = now() "
        "WHERE agency_id = $1 AND name = $2 AND revoked_at IS NULL",
        agency_id,
        name,
    )
    return int(status.split()[-1])


_KEY_COLS = "id, agency_id, role, name, prefix, created_at, revoked_at, acted_by"


class ApiKeyRow(ApiKey):
    created_by: UUID | None
    revoked_acted_by: str | None = None


async def list_api_keys(
    conn: asyncpg.Connection,
    *,
    agency_id: UUID,
    limit: int,
    after: tuple[datetime, UUID] | None,
) -> list[ApiKeyRow]:
    """Keys of the agency (revoked ones too) in creation order; fetches limit + 1."""
    rows = await conn.fetch(
        f"SELECT {_KEY_COLS}, created_by, revoked_acted_by FROM api_key WHERE agency_id = $1 "
        "AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid)) "
        "ORDER BY created_at, id LIMIT $4",
        agency_id,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
    )
    return [ApiKeyRow(**dict(r)) for r in rows]


async def get_api_key(
    conn: asyncpg.Connection, *, agency_id: UUID, key_id: UUID, lock: bool = False
) -> ApiKeyRow | None:
    row = await conn.fetchrow(
        f"SELECT {_KEY_COLS}, created_by, revoked_acted_by FROM api_key "
        "WHERE id = $1 AND agency_id = $2" + (" FOR UPDATE" if lock else ""),
        key_id,
        agency_id,
    )
    return ApiKeyRow(**dict(row)) if row else None


async def lock_active_admin_keys(conn: asyncpg.Connection, *, agency_id: UUID) -> set[UUID]:
    """Ids of the agency's active admin keys, locked until the transaction ends (so that two
    concurrent revocations cannot both take the last ones)."""
    rows = await conn.fetch(
        "SELECT id FROM api_key WHERE agency_id = $1 AND role = 'admin' AND revoked_at IS NULL "
        "ORDER BY id FOR UPDATE",
        agency_id,
    )
    return {r["id"] for r in rows}


async def revoke_api_key(
    conn: asyncpg.Connection, *, agency_id: UUID, key_id: UUID, acted_by: str | None = None
) -> bool:
    """Revoke an active key; False when there is no such active key in the agency."""
    status = await conn.execute(
        "UPDATE api_key SET revoked_at = now(), revoked_acted_by = $3 "
        "WHERE id = $1 AND agency_id = $2 AND revoked_at IS NULL",
        key_id,
        agency_id,
        acted_by,
    )
    return bool(status.endswith(" 1"))
