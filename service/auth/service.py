"""API key management: create (the secret is returned once), list, revoke with the rule that an
agency always keeps one active admin key."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from service.audit import service as auditing
from service.auth import repository as agencies
from service.auth.permissions import Principal, Role
from service.kit.pagination import decode_cursor, encode_key, split_page
from service.kit.problems import conflict, not_found


async def create_key(
    pool: asyncpg.Pool, principal: Principal, *, role: Role, name: str
) -> agencies.NewApiKey:
    async with pool.acquire() as conn, conn.transaction():
        key = await agencies.create_api_key(
            conn,
            agency_id=principal.agency_id,
            role=role,
            name=name,
            created_by=principal.key_id,
            acted_by=principal.acting_person,
        )
        await auditing.log(
            conn,
            principal,
            "api_key.create",
            subject_type="api_key",
            subject_id=key.id,
            role=key.role.value,
            prefix=key.prefix,
        )
    return key


async def list_keys(
    pool: asyncpg.Pool, *, agency_id: UUID, limit: int, cursor: str | None
) -> tuple[list[agencies.ApiKeyRow], str | None]:
    """Keys of the agency (revoked ones too), oldest first, and the cursor to the next page."""
    async with pool.acquire() as conn:
        rows = await agencies.list_api_keys(
            conn,
            agency_id=agency_id,
            limit=limit,
            after=decode_cursor(cursor) if cursor else None,
        )
    return split_page(rows, limit, lambda r: encode_key(r.created_at, r.id))


async def revoke_key(pool: asyncpg.Pool, principal: Principal, key_id: UUID) -> None:
    """Revoking a revoked key changes nothing; the agency's last active admin key stays (409)."""
    async with pool.acquire() as conn, conn.transaction():
        key = await agencies.get_api_key(conn, agency_id=principal.agency_id, key_id=key_id)
        if key is None:
            raise not_found("API key")
        if key.revoked_at is None and key.role == Role.admin:
            admins = await agencies.lock_active_admin_keys(conn, agency_id=principal.agency_id)
            if admins <= {key_id}:
                raise conflict("This is your agency's last active admin key; create another first.")
        if await agencies.revoke_api_key(
            conn, agency_id=principal.agency_id, key_id=key_id, acted_by=principal.acting_person
        ):
            await auditing.log(
                conn,
                principal,
                "api_key.revoke",
                subject_type="api_key",
                subject_id=key_id,
                role=key.role.value,
                prefix=key.prefix,
            )
