"""Bodies of the agency-settings and retention routes."""

from __future__ import annotations

from pydantic import Field

from service.kit.schemas import Strict

MIN_AUDIT_DAYS = 183  # AI Act Art. 19, 26(6): logs kept at least six months


class RetentionPeriods(Strict):
    match_lists_days: int = Field(
        default=365, ge=1, le=36500, description="Match lists and their items (and decisions)"
    )
    decisions_days: int = Field(default=730, ge=1, le=36500)
    outcomes_days: int = Field(default=730, ge=1, le=36500)
    audit_events_days: int = Field(
        default=400,
        ge=MIN_AUDIT_DAYS,
        le=36500,
        description="Audit events; at least six months (183 days)",
    )
    jobs_days: int = Field(default=90, ge=1, le=36500, description="Finished background jobs")


class AgencySettingsIn(Strict):
    require_acting_person: bool = Field(
        default=False,
        description="Refuse decisions, outcomes, policy, model and key changes that do not name "
        "the acting person (`Acting-Person` header) with 422",
    )
    auditor_reads_profiles: bool = Field(
        default=False,
        description="Let auditor keys read seeker profiles (never protected data); the change "
        "is audited",
    )
    retention: RetentionPeriods = Field(default_factory=RetentionPeriods)


class AgencySettingsOut(AgencySettingsIn):
    pass
