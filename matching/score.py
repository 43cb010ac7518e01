"""Scorers turn pair features into a score and per-factor contributions that sum to it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from matching.features import FEATURE_NAMES

# The default scorer's weights, published so that a caseworker can say why a match ranks where it
# does. They sum to 1, so a score is in [0, 1]: 1 would be a pair that fits on every factor.
# The relevance factors (whether the person can do the work) were set by measurement on the
# quality benchmark's tuning split (`python -m bench.quality.run --tune`, bench/README.md "Match
# quality"): a random search over semantic, lexical, occupation and required skills with their
# total fixed at 0.65, keeping the most even weighting within 0.01 nDCG@10 of the best, and the
# semantic factor at least 0.15 (real text leans on the embedding more than ESCO-derived text).
# Occupation is the largest because, read from free text against the whole taxonomy
# (matching.normalise), it separates jobs that are worded alike. Preferred skills (never stated
# in the benchmark) and the practical factors (distance, pay, contract, experience, education,
# languages: whether they would take it) keep their earlier weights.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "semantic": 0.19,
    "lexical": 0.05,
    "occupation": 0.35,
    "required_skills": 0.06,
    "preferred_skills": 0.05,
    "distance": 0.10,
    "salary": 0.06,
    "employment_type": 0.06,
    "experience": 0.04,
    "education": 0.02,
    "languages": 0.02,
}


# Whether the person can do the job ...
RELEVANCE_FACTORS: tuple[str, ...] = (
    "semantic",
    "lexical",
    "occupation",
    "required_skills",
    "preferred_skills",
)
# ... gates how much the practical factors (distance, pay, contract, experience, education,
# languages) count: in full once relevance reaches this much of the score, in proportion below.
# Without the gate a near, well-paid, full-time job in an unrelated trade starts with 0.30.
RELEVANCE_FOR_FULL_PRACTICAL = 0.35


class Scorer(Protocol):
    """Anything that scores pairs: the default weighted sum or a learned model."""

    version: str

    def contributions(self, features: Mapping[str, float | None]) -> dict[str, float]:
        """Per-factor contributions; their sum is the score."""
        ...


class WeightedSumScorer:
    """Transparent scorer. A relevance factor contributes weight × feature; a practical factor
    contributes weight × feature × gate, where gate = min(1, relevance / 0.35) and relevance is
    the sum of the relevance factors' contributions. Unknown features count 0."""

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        *,
        version: str = "default-v3",
        relevance_for_full_practical: float = RELEVANCE_FOR_FULL_PRACTICAL,
    ) -> None:
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        unknown = set(self.weights) - set(FEATURE_NAMES)
        if unknown:
            raise ValueError(f"unknown features in weights: {sorted(unknown)}")
        self.version = version
        self.relevance_for_full_practical = relevance_for_full_practical
        # Split once: contributions() runs for every candidate of every match request.
        self._relevance = [(n, w) for n, w in self.weights.items() if n in RELEVANCE_FACTORS]
        self._practical = [(n, w) for n, w in self.weights.items() if n not in RELEVANCE_FACTORS]

    def contributions(self, features: Mapping[str, float | None]) -> dict[str, float]:
        out = {name: weight * (features.get(name) or 0.0) for name, weight in self._relevance}
        full = self.relevance_for_full_practical
        gate = 1.0 if full <= 0 else min(1.0, sum(out.values()) / full)
        for name, weight in self._practical:
            out[name] = weight * (features.get(name) or 0.0) * gate
        return out


def total(contributions: Mapping[str, float]) -> float:
    return float(sum(contributions.values()))
