"""Match lists: ranked items with their factors and explanations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from service.kit.schemas import Strict
from service.review.schemas import DecisionOut


class ListWarning(BaseModel):
    code: Literal["text_unreadable", "no_semantic_signal", "scores_tied"]
    message: str


class NoteCode(BaseModel):
    """A note in machine form: the code and the values the sentence was built from."""

    code: str
    params: dict[str, Any] = Field(default_factory=dict)


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
    note_codes: list[NoteCode]
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


class OmitsAbsent(BaseModel):
    """Leaves out fields without a value: these blocks differ by policy method and by what the
    key may see, and a null would read as "none" where it means "not shown" or "not used"."""

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        # No return annotation: the JSON schema stays the model's own.
        return {k: v for k, v in handler(self).items() if v is not None}


class FairnessMetrics(BaseModel):
    """Fairness of the first k places of a ranking, over the consenting candidates in them."""

    k: int = Field(description="Places measured (at most the list length)")
    n: int = Field(description="Candidates measured")
    share: dict[str, float] = Field(description="group → share of the first k places")
    target: dict[str, float] = Field(description="group → target share")
    skew: dict[str, float] = Field(description="group → log(share / target), Skew@k")
    min_skew: float
    max_skew: float
    ndkl: float = Field(description="Normalised discounted KL divergence from the targets")
    exposure: dict[str, float] = Field(description="group → position-discounted exposure")
    exposure_ratio: float | None = Field(description="Lowest / highest group exposure")


class PlacementCell(BaseModel):
    pool: int = Field(description="Candidates of this group in the scored pool")
    top: int = Field(description="Of them, placed in the returned list")


class TopKCount(BaseModel):
    before: int
    after: int


class FairnessBlock(OmitsAbsent):
    """What the fairness policy did to a candidate list. Keys without access to protected data
    see only the policy's shape (`method`, `attributes`, `k`, `pool_size`, `alpha`) and
    `group_figures` saying where the rest is shown."""

    model_config = ConfigDict(extra="allow")

    method: str
    attributes: list[str]
    k: int
    pool_size: int
    alpha: float | None = None
    unknown_in_pool: int | None = Field(default=None, description="Candidates without consent")
    pool_shares: dict[str, float] | None = Field(
        default=None, description="group → share of the consenting pool"
    )
    p: float | None = Field(default=None, description="FA*IR: minimum protected share")
    mtable: list[int] | None = Field(
        default=None, description="FA*IR: minimum protected candidates in each prefix"
    )
    targets: dict[str, float] | None = Field(default=None, description="DetConstSort targets")
    infeasible_prefixes: list[int] | None = Field(
        default=None, description="Prefixes where the targets could not be met"
    )
    measured_over: str | None = None
    unknown_in_top_k: TopKCount | None = None
    before: FairnessMetrics | None = Field(default=None, description="In score order")
    after: FairnessMetrics | None = Field(default=None, description="As shown")
    placement: dict[str, dict[str, PlacementCell]] | None = Field(
        default=None, description="attribute → value → pool and placed counts"
    )
    group_figures: str | None = Field(
        default=None,
        description="Set when group figures are hidden from this key: where to see them",
    )


class ListPolicy(OmitsAbsent):
    """The fairness policy a list was made under. Keys that may not read the policy see only
    `method`, `attributes`, `version` and `details`."""

    model_config = ConfigDict(extra="allow")

    method: str
    attributes: list[str]
    version: int
    protected_groups: list[str] | None = None
    target_source: str | None = None
    p: float | None = None
    targets: dict[str, float] | None = None
    alpha: float | None = None
    reason: str | None = None
    details: str | None = Field(
        default=None, description="Set when the policy's details are hidden from this key"
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
    fairness_policy: ListPolicy | None = Field(
        default=None, description="The fairness policy in force when the list was made"
    )
    fairness: FairnessBlock | None = Field(
        default=None,
        description="Candidate lists: what the policy did, measured before and after",
    )
    capacity: dict[str, Any] | None = Field(
        default=None,
        description="Job lists under a capacity policy: method, policy and price versions, "
        "relevance floor, how many postings were left out (past a hard cap) or shown lower, "
        "and the mean score given up over the list against the plain order",
    )
    warnings: list[ListWarning] = Field(
        default_factory=list,
        description="Why this order may not be a ranking: `text_unreadable` (the profile text "
        "has no words, or is in a script the embedding model cannot read), "
        "`no_semantic_signal` (no candidate is textually similar at all), `scores_tied` "
        "(every item has the same score: the order is arbitrary). Empty when the order is a "
        "ranking.",
    )
    items: list[MatchItem]


class RankingSwitchIn(Strict):
    """Stop or resume automated ranking, for the agency or for one posting."""

    posting_id: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="The posting; absent or null: the whole agency"
    )
    stopped: bool = Field(
        description="true: new lists are made in the non-personalised order (no embedding, no "
        "learned model); false: automated ranking again"
    )


class StoppedPosting(BaseModel):
    posting_id: UUID
    stopped_at: datetime


class RankingSwitch(BaseModel):
    """Where automated ranking is stopped (human oversight, EU AI Act Art. 14)."""

    agency_stopped: bool = Field(description="Stopped for every list of the agency")
    agency_stopped_at: datetime | None
    stopped_postings: list[StoppedPosting] = Field(
        description="Postings whose candidate lists are made in the non-personalised order"
    )
