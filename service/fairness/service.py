"""The agency's fairness policy: read the version in force, set a new one, read the history."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from service.audit import service as auditing
from service.auth.permissions import Principal
from service.fairness import repository as policies
from service.fairness.repository import StoredPolicy


async def current(pool: asyncpg.Pool, *, agency_id: UUID) -> StoredPolicy | None:
    async with pool.acquire() as conn:
        return await policies.current(conn, agency_id=agency_id)


async def put(
    pool: asyncpg.Pool, principal: Principal, *, policy: dict[str, Any], method: str
) -> StoredPolicy:
    """A new version, audited in the same transaction; earlier versions stay in the history."""
    async with pool.acquire() as conn, conn.transaction():
        stored = await policies.put(
            conn,
            agency_id=principal.agency_id,
            policy=policy,
            created_by=principal.key_id,
            acted_by=principal.acting_person,
        )
        await auditing.log(
            conn,
            principal,
            "fairness_policy.update",
            subject_type="fairness_policy",
            version=stored.version,
            method=method,
        )
    return stored


async def history(pool: asyncpg.Pool, *, agency_id: UUID) -> list[StoredPolicy]:
    async with pool.acquire() as conn:
        return await policies.history(conn, agency_id=agency_id)
