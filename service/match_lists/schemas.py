"""Match lists: ranked items with their factors and explanations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    Field,
)

from service.review.schemas import DecisionOut


class ListWarning(BaseModel):
    code: Literal["text_unreadable", "no_semantic_signal", "scores_tied"]
    message: str


class MatchExplanation(BaseModel):
    matched_skills: list[str]
    missing_skills: list[str]
    matched_required_skills: list[str]
    missing_required_skills: list[str]
    matched_preferred_skills: list[str]
    missing_preferred_skills: list[str]
    distance_km: float | None
    radius_km: float | None
    notes: list[str]
    note_codes: list[dict[str, Any]]
    omitted_skills: dict[str, int] = Field(
        default_factory=dict,
        description="Per skill list above that was cut to its first names: how many more",
    )
    warnings: list[ListWarning] = Field(
        default_factory=list, description="The list's warnings (see MatchList.warnings)"
    )
    capacity: dict[str, Any] | None = Field(
        default=None,
        description="Job lists under a capacity policy, when this posting was shown lower: "
        "its congestion price, the penalty subtracted (at most the relevance floor), the "
        "adjusted score, its applications and openings",
    )


class MatchItem(BaseModel):
    rank: int
    seeker_id: UUID | None = None
    posting_id: UUID | None = None
    external_id: str
    title: str | None = Field(default=None, description="Posting title (jobs for a seeker)")
    score: float = Field(
        description="0 to 1 for every scorer: the default weighted sum as it is, a learned "
        "model's log-odds through the logistic function (its chance of a good outcome)"
    )
    score_raw: float = Field(
        description="The scorer's own score, the sum of factors: equal to score for the "
        "default scorer, log-odds for a learned model"
    )
    factors: dict[str, float] = Field(
        description="feature name → contribution in the scorer's units; they sum to score_raw"
    )
    explanation: MatchExplanation
    decisions: list[DecisionOut] | None = Field(
        default=None, description="Review view only: this item's decisions, newest first"
    )
    final_rank: int | None = Field(
        default=None, description="Review view only: the rank after caseworker overrides"
    )


class MatchList(BaseModel):
    id: UUID
    kind: Literal["postings_for_seeker", "seekers_for_posting"]
    seeker_id: UUID | None
    posting_id: UUID | None
    created_at: datetime
    model_version: str
    embedding_model: str
    personalised: bool
    radius_km: float | None = Field(description="Radius used (seeker lists)")
    radius_widened_km: float = Field(description="How far the radius was widened; 0 if not")
    candidates_considered: int
    fairness_policy: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None
    capacity: dict[str, Any] | None = Field(
        default=None,
        description="Job lists under a capacity policy: method, policy and price versions, "
        "relevance floor, how many postings were left out (past a hard cap) or shown lower, "
        "and the mean score given up over the list against the plain order",
    )
    warnings: list[ListWarning] = Field(
        default_factory=list,
        description="Why this order may not be a ranking: `text_unreadable` (the profile text "
        "is in a script the embedding model cannot read), `no_semantic_signal` (no candidate "
        "is textually similar at all), `scores_tied` (every item has the same score: the "
        "order is arbitrary). Empty when the order is a ranking.",
    )
    items: list[MatchItem]
