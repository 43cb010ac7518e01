"""The audit pack over a period, as JSON or as a self-contained printable HTML report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from service.audit_pack import service as packs
from service.audit_pack.html import render
from service.auth.dependencies import State, authorize
from service.auth.permissions import Principal
from service.kit.http import API_V1, Timestamp, problems, report_period

router = APIRouter(prefix=API_V1, tags=["reports"])


class AuditPack(BaseModel):
    agency: str
    period: dict[str, str]
    generated_at: str
    model_cards: list[dict[str, Any]] = Field(
        description="Each model live in the period: training window, data size, held-out "
        "metrics, gate result, who activated it and why"
    )
    data_card: dict[str, Any] = Field(
        description="Counts, missing fields, consent rate, group shares among seekers and among "
        "those recommended"
    )
    bias_report: dict[str, Any] = Field(
        description="Per protected attribute: impact ratios of top-k placement, shortlisting, "
        "contact and hire with counts and Fisher exact p-values; skew@k, NDKL, exposure "
        "ratios; the fairness policies in force"
    )
    human_oversight: dict[str, Any] = Field(
        description="Share of lists reviewed, decisions per action, override rate and "
        "direction, automation bias by caseworker pseudonym"
    )
    capacity: dict[str, Any] = Field(
        description="The capacity policies in force in the period, its rebalance runs (price "
        "versions with their summary), and the market figures of the period: Gini of "
        "exposure, share never recommended, Congestion@10, Coverage@10, relevance given up, "
        "the most exposed postings per opening, trend by day"
    )
    instructions_for_use: list[dict[str, Any]] = Field(
        description="What the system does, the inputs it needs, its limits, how to oversee it: "
        "generated from the live configuration"
    )


@router.get(
    "/reports/audit-pack",
    response_model=AuditPack,
    responses={
        **problems(422),
        200: {
            "description": "The pack; as a printable HTML page with `Accept: text/html`",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
    },
    operation_id="audit_pack",
)
async def audit_pack(
    state: State,
    principal: Annotated[Principal, Depends(authorize("reports:read"))],
    from_: Annotated[
        Timestamp | None, Query(alias="from", description="default: 30 days ago")
    ] = None,
    to: Annotated[Timestamp | None, Query(description="default: now")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Model cards, data card, bias report, human oversight, capacity and instructions for
    use over a period (EU AI Act Art. 13, 14, 26, 27 evidence; NYC LL144 impact ratios)."""
    since, until = report_period(from_, to)
    pack = await packs.audit_pack(
        state.pool,
        agency_id=principal.agency_id,
        since=since,
        until=until,
        settings=state.settings,
    )
    if accept and "text/html" in accept and "application/json" not in accept.split(",")[0]:
        return HTMLResponse(render(pack), headers={"Cache-Control": "no-store"})
    return Response(AuditPack(**pack).model_dump_json(), media_type="application/json")
