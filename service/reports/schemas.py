"""The fairness report over a period."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ImpactRatios(BaseModel):
    """Selection-rate impact ratios of one protected attribute (NYC LL144)."""

    model_config = ConfigDict(extra="allow")

    rates: dict[str, float | None] = Field(description="group → selection rate")
    ratios: dict[str, float | None] = Field(description="group → rate / highest rate")
    highest_rate: float | None
    selected: dict[str, int]
    totals: dict[str, int]
    excluded: dict[str, int] = Field(description="Groups under 2 % of known candidates")
    excluded_rates: dict[str, float | None]
    excluded_count: int
    excluded_individuals: int
    flagged: list[str] = Field(description="Groups whose ratio is under 0.8")
    unknown: int = Field(description="Candidates without consent, left out of the ratios")


class PlacementSection(BaseModel):
    lists: int = Field(description="Candidate lists in the period")
    by_attribute: dict[str, ImpactRatios]


class ShortlistingSection(BaseModel):
    candidates: int = Field(description="Candidates shown in lists in the period")
    by_attribute: dict[str, ImpactRatios]


class GroupRecommendations(BaseModel):
    recommendations: int
    mean_score: float | None
    mean_monthly_salary: float | None
    with_salary: int = Field(description="Recommendations that state a salary")


class RecommendationSection(BaseModel):
    recommendations: int = Field(description="Top-10 recommendations made to seekers")
    by_attribute: dict[str, dict[str, GroupRecommendations]] = Field(
        description="attribute → group → figures"
    )


class Period(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime


class FairnessReport(BaseModel):
    period: Period
    top_k_placement: PlacementSection = Field(
        description="Candidate lists: selection rate = share of a group's candidates placed in "
        "the returned top k; impact ratio = rate / highest rate (four-fifths rule flags < 0.8)"
    )
    shortlisting: ShortlistingSection = Field(
        description="Candidates shown in lists: share shortlisted or contacted by caseworkers"
    )
    recommendations: RecommendationSection = Field(
        description="Jobs for seekers: mean score and mean offered monthly salary of the top 10"
    )
