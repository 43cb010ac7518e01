"""The fairness and market reports over a period."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

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


class MarketPosting(BaseModel):
    posting_id: UUID
    external_id: str
    openings: int
    exposure: float = Field(description="Σ 1/log2(rank + 1) over the job lists that show it")
    exposure_per_opening: float
    top10_appearances: int
    applications: int = Field(description="Outcomes `applied` recorded in the period")
    applications_per_opening: float


class MarketFigures(BaseModel):
    gini_exposure: float = Field(
        description="Gini of exposure over the postings open in the period (never shown = 0): "
        "0 = even, near 1 = on a few"
    )
    share_never_recommended: float = Field(description="Open postings in no job list")
    congestion_at_10: float = Field(
        description="Σ s_j log s_j / log N, s_j the share of top-10 slots posting j takes, N "
        "open postings: −1 = even, 0 = all on one (Mashayekhi et al., RecSys 2023)"
    )
    coverage_at_10: float = Field(description="Share of open postings in some top 10")
    mean_relevance_given_up: float = Field(
        description="Mean over job lists of the score given up for capacity (mean of the top "
        "`limit` scores, plain minus shown); 0 for lists without a capacity policy"
    )


class MarketDay(MarketFigures):
    day: date
    lists: int
    applications: int


class MarketReport(MarketFigures):
    period: Period
    k: int
    active_postings: int
    lists: int = Field(description="Job lists for seekers made in the period")
    lists_under_capacity: int
    applications: int
    postings_total: int
    postings: list[MarketPosting] = Field(
        description="The most exposed per opening first: `limit` of them from `offset` "
        "(of `postings_total`)"
    )
    trend: list[MarketDay] = Field(description="The same figures per UTC day")
