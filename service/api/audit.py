"""The audit log, read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from service.api.common import Limit, problems
from service.auth import Principal
from service.db import audit as audit_db
from service.deps import State, authorize, parse_id
from service.errors import FieldError, validation_problem

router = APIRouter(tags=["audit"])


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
    "/v1/audit-events",
    response_model=AuditPage,
    responses=problems(422),
    operation_id="list_audit_events",
)
async def list_audit_events(
    state: State,
    principal: Annotated[Principal, Depends(authorize("audit:read"))],
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^[0-9]+$")] = None,
    actor: Annotated[str | None, Query(max_length=64, description="API key id")] = None,
    subject: Annotated[str | None, Query(max_length=64, description="subject id")] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
) -> AuditPage:
    """Audit events of your agency, oldest first, filtered by actor, subject, action and time."""
    ids = {}
    for name, value in (("actor", actor), ("subject", subject)):
        if value is not None:
            try:
                ids[name] = parse_id(value, name)
            except Exception:
                raise validation_problem(
                    [FieldError(field=f"query.{name}", message="not an id")]
                ) from None
    async with state.pool.acquire() as conn:
        rows = await audit_db.page(
            conn,
            agency_id=principal.agency_id,
            after_seq=int(cursor) if cursor else None,
            limit=limit,
            actor_key_id=ids.get("actor"),
            subject_id=ids.get("subject"),
            action=action,
            since=from_,
            until=to,
        )
    more = len(rows) > limit
    rows = rows[:limit]
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
        next_cursor=str(rows[-1].seq) if more and rows else None,
    )
