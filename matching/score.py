"""Scorers turn pair features into a score and per-factor contributions that sum to it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from matching.features import FEATURE_NAMES

# The default scorer's weights, published so that a caseworker can say why a match ranks where it
# does. They sum to 1, so a score is in [0, 1]: 1 would be a pair that fits on every factor.
# Semantic similarity and skills carry most weight because they say whether the person can do the
# work; distance, pay and contract say whether they would take it.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "semantic": 0.30,
    "occupation": 0.15,
    "required_skills": 0.20,
    "preferred_skills": 0.05,
    "distance": 0.10,
    "salary": 0.06,
    "employment_type": 0.06,
    "experience": 0.04,
    "education": 0.02,
    "languages": 0.02,
}


class Scorer(Protocol):
    """Anything that scores pairs: the default weighted sum or a learned model."""

    version: str

    def contributions(self, features: Mapping[str, float | None]) -> dict[str, float]:
        """Per-factor contributions; their sum is the score."""
        ...


class WeightedSumScorer:
    """Transparent linear scorer: contribution = weight × feature, unknown features count 0."""

    def __init__(
        self, weights: Mapping[str, float] | None = None, *, version: str = "default-v1"
    ) -> None:
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        unknown = set(self.weights) - set(FEATURE_NAMES)
        if unknown:
            raise ValueError(f"unknown features in weights: {sorted(unknown)}")
        self.version = version

    def contributions(self, features: Mapping[str, float | None]) -> dict[str, float]:
        return {name: weight * (features.get(name) or 0.0) for name, weight in self.weights.items()}


def total(contributions: Mapping[str, float]) -> float:
    return float(sum(contributions.values()))
