"""The learned linear scorer and its JSON artifact (Cox, "The regression analysis of binary
sequences", JRSS B 20(2), 1958: the log-odds of a logistic model are additive in the features,
which is what makes per-factor contributions exact)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from matching.features import FEATURE_NAMES
from matching.learning.examples import _value
from matching.score import total

#: Name of the contribution that carries the model's intercept.
BASELINE = "baseline"

#: ``format`` tag of a :class:`LinearModelScorer` artifact.
ARTIFACT_FORMAT = "jobmatch.linear-scorer"
_ARTIFACT_VERSION = 1


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {value!r}")
    fv = float(value)
    if not math.isfinite(fv):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return fv


class LinearModelScorer:
    """A learned linear scorer: score = intercept + Σ weight × feature (unknown features 0).

    Implements the :class:`matching.score.Scorer` protocol. ``contributions`` gives one entry
    per weighted feature (in :data:`FEATURE_NAMES` order) plus ``"baseline"`` for the intercept;
    :meth:`score` is defined as their sum, so the contributions sum to the score exactly. For a
    logistic model the score is the log-odds that the pair turns out positive
    (:meth:`probability`); ranking by it equals ranking by the probability.

    The artifact (:meth:`to_json` / :meth:`from_json`) is plain JSON coefficients.
    """

    def __init__(
        self,
        version: str,
        weights: Mapping[str, float],
        intercept: float,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(version, str) or not version:
            raise ValueError("version must be a non-empty string")
        unknown = set(weights) - set(FEATURE_NAMES)
        if unknown:
            raise ValueError(f"unknown features in weights: {sorted(unknown)}")
        self.version = version
        self.weights: dict[str, float] = {
            name: _number(weights[name], f"weight of {name!r}")
            for name in FEATURE_NAMES
            if name in weights
        }
        self.intercept = _number(intercept, "intercept")
        self.metadata: dict[str, Any] = dict(metadata or {})
        # Lists show log-odds on the 0-1 scale of every scorer (matching.rank.unit_score).
        self.link = "logit"

    def contributions(self, features: Mapping[str, float | None]) -> dict[str, float]:
        out = {name: w * _value(features, name) for name, w in self.weights.items()}
        out[BASELINE] = self.intercept
        return out

    def score(self, features: Mapping[str, float | None]) -> float:
        """The sum of :meth:`contributions` (log-odds for a logistic model)."""
        return total(self.contributions(features))

    def probability(self, features: Mapping[str, float | None]) -> float:
        """Logistic link of :meth:`score`: the modelled chance of a positive label."""
        s = self.score(features)
        if s >= 0:
            return 1.0 / (1.0 + math.exp(-s))
        e = math.exp(s)
        return e / (1.0 + e)

    def to_json(self) -> dict[str, Any]:
        """The JSON artifact: format tag, version, coefficients, metadata."""
        return {
            "format": ARTIFACT_FORMAT,
            "format_version": _ARTIFACT_VERSION,
            "version": self.version,
            "link": "logit",
            "features": list(self.weights),
            "weights": dict(self.weights),
            "intercept": self.intercept,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearModelScorer:
        """Rebuild a scorer from :meth:`to_json` output (validated; raises ValueError)."""
        if data.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"not a {ARTIFACT_FORMAT} artifact: format={data.get('format')!r}")
        if data.get("format_version") != _ARTIFACT_VERSION:
            raise ValueError(f"unsupported format_version {data.get('format_version')!r}")
        weights = data.get("weights")
        if not isinstance(weights, Mapping):
            raise ValueError("weights must be an object")
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise ValueError("metadata must be an object")
        version = data.get("version")
        if not isinstance(version, str):
            raise ValueError("version must be a string")
        return cls(
            version,
            {str(k): _number(v, f"weight of {k!r}") for k, v in weights.items()},
            _number(data.get("intercept"), "intercept"),
            metadata=metadata,
        )

    def __repr__(self) -> str:
        return (
            f"LinearModelScorer(version={self.version!r}, weights={self.weights!r}, "
            f"intercept={self.intercept!r})"
        )
