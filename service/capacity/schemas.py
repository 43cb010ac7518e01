"""The capacity policy an admin sets, and the congestion prices it leads to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.kit.problems import FieldError
from service.kit.schemas import Strict


class CapacityPolicyIn(Strict):
    """The agency's capacity policy for job lists (`GET /v1/seekers/{id}/matches`).

    `none`: lists as scored. `cap`: postings past a hard cap are left out, and equal scores go
    to the posting with fewer applications. `balanced`: `cap`, and each posting's price (from
    the last rebalance: its congestion price over capacity, raised where needed to spread
    exposure over the market, at most `relevance_floor`) is subtracted from its score.
    Applications and exposure are counted over `JOBMATCH_CAPACITY_WINDOW_DAYS`. Candidate
    lists for a posting are not changed (the fairness policy applies there).
    """

    method: Literal["none", "cap", "balanced"] = "none"
    max_applications_per_opening: int | None = Field(
        default=80,
        ge=1,
        le=100_000,
        description="Hard cap: a posting with this many applications per opening is no longer "
        "shown (La bonne alternance stops at 80); null = no cap on applications",
    )
    max_exposure_per_opening_per_week: float | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description="Hard cap on exposure (rank-discounted appearances in seekers' lists, "
        "1/log2(rank+1) each) per opening and week, as of the last rebalance; null = none",
    )
    relevance_floor: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="How much score (0 to 1) a posting may lose to its congestion price: no "
        "rank of a seeker's list falls more than this below the plain list's",
    )
    headroom: float = Field(
        default=1.5,
        ge=1,
        le=100,
        description="balanced: a posting is priced once it draws more than this many times "
        "its share of the seekers' attention (its share of all openings), or of its openings "
        "when that is more",
    )
    reason: Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="Why the policy changes (kept in its history)"
    )

    def field_errors(self) -> list[FieldError]:
        """What the field constraints cannot say: `cap` and `balanced` need a cap to enforce."""
        if self.method == "none":
            return []
        if self.max_applications_per_opening is None and (
            self.max_exposure_per_opening_per_week is None
        ):
            return [
                FieldError(
                    field="body.max_applications_per_opening",
                    message=f"method {self.method} needs max_applications_per_opening or "
                    "max_exposure_per_opening_per_week",
                    type="missing",
                )
            ]
        return []


class PriceSet(BaseModel):
    """The newest congestion prices of the agency."""

    version: int
    policy_version: int
    created_at: datetime
    summary: dict[str, float | int | bool | None] = Field(
        description="postings, seekers, priced postings, max price, Sinkhorn iterations, "
        "converged, max overload, Gini of expected load before and after; balanced: spread "
        "rounds, Gini of the top-10 lists' exposure before and after the spread prices"
    )


class CapacityPolicyOut(CapacityPolicyIn):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(description="0 = never set (no capacity re-ranking)")
    created_at: datetime | None = None
    created_by: str | None = Field(default=None, description="id of the API key that set it")
    prices: PriceSet | None = Field(
        default=None, description="The newest congestion prices (null before the first rebalance)"
    )


class CapacityPolicyHistory(BaseModel):
    items: list[CapacityPolicyOut]
