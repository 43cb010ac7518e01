"""Data subject access: export everything stored about a seeker."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from service.auth.dependencies import State, authorize, parse_id
from service.auth.permissions import Principal
from service.kit.http import API_V1, problems
from service.privacy import service as privacy
from service.records.schemas import SeekerOut

router = APIRouter(prefix=API_V1, tags=["seekers"])


class ExportEmbedding(BaseModel):
    model: str = Field(description="The model that embedded the profile (the vector is omitted)")
    created_at: datetime


class ExportMatchItem(BaseModel):
    match_list_id: UUID
    kind: str = Field(description="postings_for_seeker (their job list) or seekers_for_posting")
    created_at: datetime
    model_version: str
    personalised: bool
    rank: int
    posting_id: UUID
    score: float
    factors: dict[str, float]
    features: dict[str, float | None]
    explanation: dict[str, Any]
    external_id: str | None
    title: str | None
    list_capacity: dict[str, Any] | None = Field(
        default=None,
        description="Their job list under a capacity policy: its capacity block, with the "
        "postings scored for them before capacity (the demand congestion prices read)",
    )


class ExportDecision(BaseModel):
    id: UUID
    match_list_id: UUID
    rank: int
    posting_id: UUID
    action: str
    reason_code: str | None
    note: str | None
    new_rank: int | None
    created_at: datetime
    acted_by: str | None = Field(default=None, description="Staff id of the person who acted")


class ExportOutcome(BaseModel):
    id: UUID
    posting_id: UUID
    outcome: str
    created_at: datetime
    acted_by: str | None = Field(default=None, description="Staff id of the person who acted")


class ExportAuditEntry(BaseModel):
    at: datetime
    action: str
    actor_role: str | None
    acted_by: str | None = Field(default=None, description="Staff id of the person who acted")
    route: str | None


class SeekerExport(BaseModel):
    """Everything stored about one seeker (GDPR Art. 15, PIPL Art. 45)."""

    exported_at: datetime
    seeker: SeekerOut = Field(description="The profile, with protected data if any")
    record_version: int
    embeddings: list[ExportEmbedding]
    match_items: list[ExportMatchItem] = Field(
        description="Every stored list item about the seeker, in their lists and in others'"
    )
    decisions: list[ExportDecision]
    outcomes: list[ExportOutcome]
    audit_trail: list[ExportAuditEntry] = Field(
        description="Who (by role) created, read, changed or matched the record, and when"
    )


@router.get(
    "/seekers/{seeker_id}/export",
    response_model=SeekerExport,
    responses=problems(404),
    operation_id="export_seeker",
)
async def export_seeker(
    seeker_id: str,
    state: State,
    principal: Annotated[Principal, Depends(authorize("seekers:export"))],
) -> SeekerExport:
    """A data subject access export: profile, protected data, which models embedded it (not the
    vectors), every match item about the seeker, decisions, outcomes, and the audit trail of
    their record. The export itself is audited."""
    data = await privacy.export_seeker(state, principal, parse_id(seeker_id, "seeker"))
    return SeekerExport.model_validate(data)
