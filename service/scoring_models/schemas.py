"""Retraining and the model registry: held-out metrics, the gate's verdict, activations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from service.kit.schemas import Strict


class AttributeFairness(BaseModel):
    """Top-k placement by one protected attribute over the held-out lists."""

    model_config = ConfigDict(extra="allow")

    known: int = Field(description="Candidates whose group is known (consenting)")
    unknown: int
    totals: dict[str, int] = Field(description="group → candidates")
    selected: dict[str, int] = Field(description="group → placed in their list's top k")
    selection_rates: dict[str, float | None]
    impact_ratios: dict[str, float | None] = Field(description="rate / highest rate")
    excluded: dict[str, int] = Field(description="Groups under 2 % of known candidates")
    flagged: list[str] = Field(description="Groups under the four-fifths rule")
    min_impact_ratio: float | None
    min_impact_group: str | None
    p_lower: dict[str, float] = Field(
        description="group → one-sided Fisher exact p-value that it is placed less often"
    )
    lists_with_two_groups: int
    ndkl_mean: float | None
    exposure_ratio_mean: float | None


class RankingMetrics(BaseModel):
    """Quality and fairness of the rankings a scorer would produce on held-out lists."""

    model_config = ConfigDict(extra="allow")

    scorer_version: str
    k: int
    examples: int
    positives: int
    lists: int
    lists_with_positive: int
    ndcg_at_k: float | None
    recall_at_k: float | None
    mrr: float | None
    auc: float | None
    fairness: dict[str, AttributeFairness] = Field(description="protected attribute → figures")


class ModelMetrics(BaseModel):
    candidate: RankingMetrics = Field(description="This model")
    active: RankingMetrics = Field(description="The model live when it was trained")
    default: RankingMetrics = Field(description="The transparent default scorer")


class GateReport(BaseModel):
    """The activation gate's verdict: quality within tolerance, impact ratios ≥ the minimum."""

    model_config = ConfigDict(extra="allow")

    passed: bool
    reasons: list[str] = Field(description="Why it fails; empty when it passes")
    notes: list[str] = Field(description="What was not checked and why")
    evaluated_on: int | None = Field(default=None, description="Held-out items the verdict used")
    against: str | None = Field(default=None, description="Version it was compared with")


class ActivationOut(BaseModel):
    seq: int
    model_id: UUID | None = Field(description="null: the default scorer")
    activated_at: datetime
    activated_by: UUID | None = Field(description="id of the API key")
    acted_by: str | None = Field(
        default=None, description="Staff id of the person who activated it (Acting-Person)"
    )
    forced: bool
    reason: str | None


class ModelOut(BaseModel):
    id: str = Field(description='"default" for the transparent default scorer')
    version: str
    kind: str
    active: bool
    created_at: datetime | None = None
    created_by: str | None = None
    metrics: ModelMetrics | None = Field(
        default=None, description="Held-out metrics of this model, the then-active and default"
    )
    train_window: list[str] | None = None
    holdout_window: list[str] | None = None
    train_size: int | None = None
    holdout_size: int | None = None
    gate: GateReport | None = None


class ModelList(BaseModel):
    items: list[ModelOut]
    activations: list[ActivationOut] = Field(description="Activation history, newest first")


class ActivateIn(Strict):
    force: bool = Field(default=False, description="Activate although the gate refuses")
    reason: Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="Why (required when forcing); kept in the registry"
    )


class Activated(BaseModel):
    active: str
    model_id: str
    forced: bool
    gate: GateReport | None
    activated_at: datetime
    acted_by: str | None = Field(
        default=None, description="Staff id of the person who activated it (Acting-Person)"
    )
