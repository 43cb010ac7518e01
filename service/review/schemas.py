"""Caseworker review: decisions, outcomes, list summaries, what would change."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from service.kit.problems import FieldValueError
from service.kit.schemas import NOT_BLANK, Strict


class RejectReason(StrEnum):
    """Documented reasons a caseworker rejects a match (free text goes in `note`)."""

    skills_gap = "skills_gap"
    experience_gap = "experience_gap"
    distance = "distance"
    availability = "availability"
    salary_expectation = "salary_expectation"
    contract_type = "contract_type"
    language = "language"
    seeker_declined = "seeker_declined"
    employer_requirements = "employer_requirements"
    position_filled = "position_filled"
    other = "other"


class DecisionIn(Strict):
    # The rules of _complete, in the schema too (clients and fuzzers can generate valid bodies).
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"action": {"const": "reject"}}, "required": ["action"]},
                    "then": {
                        "required": ["reason_code"],
                        "properties": {"reason_code": {"type": "string"}},
                    },
                    "else": {"properties": {"reason_code": {"type": "null"}}},
                },
                {
                    "if": {"properties": {"action": {"const": "override"}}, "required": ["action"]},
                    "then": {
                        "required": ["new_rank", "note"],
                        "properties": {
                            "new_rank": {"type": "integer"},
                            "note": {"type": "string", "pattern": NOT_BLANK},
                        },
                    },
                    "else": {"properties": {"new_rank": {"type": "null"}}},
                },
            ]
        }
    )

    rank: int = Field(ge=1, le=1000, description="The item's rank in the stored list")
    action: Literal["shortlist", "reject", "contact", "override"]
    reason_code: RejectReason | None = Field(
        default=None, description="Required for reject, refused with any other action"
    )
    note: Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="Free text; required for override (why)"
    )
    new_rank: int | None = Field(default=None, ge=1, le=1000, description="override: move here")

    @model_validator(mode="after")
    def _complete(self) -> DecisionIn:
        if self.action == "reject" and self.reason_code is None:
            raise FieldValueError("reason_code", "reject needs a reason_code")
        if self.action != "reject" and self.reason_code is not None:
            raise FieldValueError(
                "reason_code", "reason_code only goes with reject (say why in note)"
            )
        if self.action == "override" and (self.new_rank is None or not self.note):
            raise FieldValueError(
                "new_rank" if self.new_rank is None else "note",
                "override needs new_rank and a note giving the reason",
            )
        if self.action != "override" and self.new_rank is not None:
            raise FieldValueError("new_rank", "new_rank only goes with override")
        return self


class DecisionsIn(Strict):
    decisions: Annotated[list[DecisionIn], Field(min_length=1, max_length=100)]


class DecisionOut(BaseModel):
    id: UUID
    match_list_id: UUID
    rank: int
    seeker_id: UUID
    posting_id: UUID
    action: str
    reason_code: str | None
    note: str | None
    new_rank: int | None
    created_at: datetime
    created_by: str
    acted_by: str | None = Field(
        default=None, description="Staff id of the person who acted (the Acting-Person header)"
    )


class DecisionsOut(BaseModel):
    items: list[DecisionOut]


class OutcomeIn(Strict):
    seeker_id: Annotated[str, Field(max_length=64)]
    posting_id: Annotated[str, Field(max_length=64)]
    outcome: Literal["applied", "interviewed", "hired", "not_hired"]


class OutcomeOut(BaseModel):
    id: UUID
    seeker_id: UUID
    posting_id: UUID
    outcome: str
    created_at: datetime
    created_by: str
    acted_by: str | None = Field(
        default=None, description="Staff id of the person who acted (the Acting-Person header)"
    )


class MatchListSummary(BaseModel):
    id: UUID
    kind: str
    seeker_id: UUID | None
    posting_id: UUID | None
    created_at: datetime
    model_version: str
    items: int
    decisions: int
    seeker_external_id: str | None = Field(description="Jobs for a seeker: whose list it is")
    posting_external_id: str | None = Field(description="Candidates for a posting: its id")
    posting_title: str | None = Field(description="Candidates for a posting: its title")


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["add_skill", "widen_radius", "accept_employment_type"]
    value: str | int | float = Field(
        description="The skill's name, the radius in km, or the employment type"
    )


class CurrentForPosting(BaseModel):
    """Candidates for a posting: the seeker's score and rank now."""

    model_config = ConfigDict(extra="forbid")

    score: float
    rank: int


class CurrentForSeeker(BaseModel):
    """Jobs for a seeker: how many postings are in the top now."""

    model_config = ConfigDict(extra="forbid")

    postings_in_top: int


class SuggestionForPosting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    change: Change
    score: float
    rank: int
    reaches_target: bool


class SuggestionForSeeker(BaseModel):
    model_config = ConfigDict(extra="forbid")

    change: Change
    new_postings_in_top: int
    reaches_target: bool


class WhatIf(BaseModel):
    """Changes to a seeker's profile that would change the result, each re-scored."""

    target: str
    current: CurrentForPosting | CurrentForSeeker
    suggestions: list[SuggestionForPosting] | list[SuggestionForSeeker] = Field(
        description="change (type, value) with the resulting score and rank (only changes that "
        "raise the score), or the number of new postings in the top 20; cheapest changes first"
    )
    best: SuggestionForPosting | SuggestionForSeeker | None = Field(
        description="The first suggestion that reaches the target"
    )
