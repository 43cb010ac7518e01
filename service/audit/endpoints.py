"""The audit log, read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from service.audit import service as auditing
from service.auth.dependencies import ACTING_PERSON_PATTERN, State, authorize
from service.auth.permissions import Principal
from service.kit.http import API_V1, Limit, Timestamp, problems

router = APIRouter(prefix=API_V1, tags=["audit"])


class AuditEventOut(BaseModel):
    id: str
    seq: int
    at: datetime
    actor_key_id: str | None
    actor_role: str | None
    acted_by: str | None = Field(description="Staff id of the person acting (Acting-Person)")
    action: str
    subject_type: str | None
    subject_id: str | None = Field(description="The subject, when the event names one")
    subject_ids: list[str] = Field(description="Every subject the request touched")
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
    acted_by: Annotated[
        str | None, Query(pattern=ACTING_PERSON_PATTERN, description="staff id (Acting-Person)")
    ] = None,
    subject: Annotated[
        UUID | None, Query(description="subject id: events naming it, alone or among others")
    ] = None,
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
        acted_by=acted_by,
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
                    "subject_ids": [str(s) for s in r.subject_ids or ()],
                }
            )
            for r in rows
        ],
        next_cursor=str(continue_after) if continue_after is not None else None,
    )


class ChainBreak(BaseModel):
    seq: int | None = Field(description="The first event that breaks the chain (null: the end)")
    reason: str


class AuditChainVerification(BaseModel):
    verified: bool
    events_checked: int
    anchor_seq: int = Field(
        description="Events up to this one were removed by retention; the chain verifies from "
        "the hash it anchored"
    )
    head_seq: int | None
    first_break: ChainBreak | None


@router.get(
    "/audit-events/verification",
    response_model=AuditChainVerification,
    responses=problems(),
    operation_id="verify_audit_chain",
)
async def verify_audit_chain(
    state: State, principal: Annotated[Principal, Depends(authorize("audit:read"))]
) -> AuditChainVerification:
    """Recompute your agency's audit hash chain (each event's hash covers its content and the
    previous event's hash) and report the first event that breaks it."""
    v = await auditing.verify(state.pool, agency_id=principal.agency_id)
    return AuditChainVerification(
        verified=v.verified,
        events_checked=v.events_checked,
        anchor_seq=v.anchor_seq,
        head_seq=v.head_seq,
        first_break=ChainBreak(seq=v.first_break.seq, reason=v.first_break.reason)
        if v.first_break
        else None,
    )
