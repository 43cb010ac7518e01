"""Agency settings for accountability (acting person, auditor access, retention periods) and
the retention job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from service.accountability import service as accountability
from service.accountability.repository import AgencySettings
from service.accountability.schemas import AgencySettingsIn, AgencySettingsOut, RetentionPeriods
from service.auth.dependencies import State, authorize
from service.auth.permissions import Principal
from service.background_jobs.schemas import JobStatus, job_out
from service.kit.http import API_V1, problems

router = APIRouter(prefix=API_V1, tags=["accountability"])
Reader = Annotated[Principal, Depends(authorize("agency_settings:read"))]
Writer = Annotated[Principal, Depends(authorize("agency_settings:write"))]
Retainer = Annotated[Principal, Depends(authorize("retention:run"))]


def _out(s: AgencySettings) -> AgencySettingsOut:
    return AgencySettingsOut(
        require_acting_person=s.require_acting_person,
        auditor_reads_profiles=s.auditor_reads_profiles,
        retention=RetentionPeriods(
            match_lists_days=s.retention_match_list_days,
            decisions_days=s.retention_decision_days,
            outcomes_days=s.retention_outcome_days,
            audit_events_days=s.retention_audit_event_days,
            jobs_days=s.retention_job_days,
        ),
    )


@router.get(
    "/agency-settings",
    response_model=AgencySettingsOut,
    responses=problems(),
    operation_id="get_agency_settings",
)
async def get_agency_settings(state: State, principal: Reader) -> AgencySettingsOut:
    """Your agency's accountability settings: acting person required, auditor access to
    profiles, retention periods."""
    return _out(await accountability.get_settings(state.pool, agency_id=principal.agency_id))


@router.put(
    "/agency-settings",
    response_model=AgencySettingsOut,
    responses=problems(422),
    operation_id="put_agency_settings",
)
async def put_agency_settings(
    body: AgencySettingsIn, state: State, principal: Writer
) -> AgencySettingsOut:
    """Replace the settings (fields left out take their defaults); the change is audited."""
    r = body.retention
    values = AgencySettings(
        require_acting_person=body.require_acting_person,
        auditor_reads_profiles=body.auditor_reads_profiles,
        retention_match_list_days=r.match_lists_days,
        retention_decision_days=r.decisions_days,
        retention_outcome_days=r.outcomes_days,
        retention_audit_event_days=r.audit_events_days,
        retention_job_days=r.jobs_days,
    )
    return _out(await accountability.put_settings(state.pool, principal, values))


@router.post(
    "/retention:apply",
    response_model=JobStatus,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(),
    operation_id="apply_retention",
)
async def apply_retention(state: State, principal: Retainer) -> JobStatus:
    """Queue the retention job now: records older than your periods are deleted in small
    batches, the audit chain anchored at the boundary; poll GET /v1/jobs/{id}."""
    return job_out(await accountability.queue_retention(state.pool, principal))
