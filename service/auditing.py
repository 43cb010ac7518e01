"""Audit helpers: who did what to which subject, written in the action's own transaction.

Details hold ids, hashes, versions and counts only: never profile text or protected values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from service.auth import Principal
from service.db import audit as audit_db


async def log(
    conn: asyncpg.Connection,
    principal: Principal,
    action: str,
    *,
    subject_type: str | None = None,
    subject_id: UUID | None = None,
    route: str | None = None,
    **details: Any,
) -> None:
    await audit_db.record(
        conn,
        agency_id=principal.agency_id,
        actor_key_id=principal.key_id,
        actor_role=principal.role.value,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        route=route,
        details=details,
    )


async def log_many(
    conn: asyncpg.Connection,
    principal: Principal,
    action: str,
    *,
    subject_type: str,
    subject_ids: Sequence[UUID],
    route: str | None = None,
) -> None:
    if subject_ids:
        await audit_db.record_many(
            conn,
            agency_id=principal.agency_id,
            actor_key_id=principal.key_id,
            actor_role=principal.role.value,
            action=action,
            subject_type=subject_type,
            subject_ids=subject_ids,
            route=route,
        )
