"""The audit log, read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from service.audit import service as auditing
from service.auth.dependencies import State, authorize
from service.auth.permissions import Principal
from service.kit.http import API_V1, Limit, Timestamp, problems

router = APIRouter(prefix=API_V1, tags=["audit"])


class AuditEventOut(BaseModel):
    id: str
    seq: int
    at: datetime
    actor_key_id: str | None
    actor_role: str | None
    action: str
    subject_type: str | None
    subject_id: str | None
    route: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


@router.get(
    "/audit-events",
    response_model=AuditPage,
    responses=problems(422),
    operation_id="list_audit_events",
)
async def list_audit_events(
    state: State,
    principal: Annotated[Principal, Depends(authorize("audit:read"))],
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
    actor: Annotated[UUID | None, Query(description="API key id")] = None,
    subject: Annotated[UUID | None, Query(description="subject id")] = None,
    action: Annotated[str | None, Query(pattern=r"^[a-z0-9_.]{1,100}$")] = None,
    from_: Annotated[Timestamp | None, Query(alias="from")] = None,
    to: Timestamp | None = None,
) -> AuditPage:
    """Audit events of your agency, oldest first, filtered by actor, subject, action and time."""
    rows, continue_after = await auditing.events_page(
        state.pool,
        agency_id=principal.agency_id,
        after_seq=int(cursor) if cursor else None,
        limit=limit,
        actor_key_id=actor,
        subject_id=subject,
        action=action,
        since=from_,
        until=to,
    )
    return AuditPage(
        items=[
            AuditEventOut(
                **{
                    **r.model_dump(),
                    "id": str(r.id),
                    "actor_key_id": str(r.actor_key_id) if r.actor_key_id else None,
                    "subject_id": str(r.subject_id) if r.subject_id else None,
                }
            )
            for r in rows
        ],
        next_cursor=str(continue_after) if continue_after is not None else None,
    )
