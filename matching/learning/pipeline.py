"""The whole retraining job: split by time, fit, evaluate candidate / active / default, gate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from matching.learning.estimator import ScorerTrainer
from matching.learning.examples import (
    DEFAULT_ATTRIBUTES,
    Example,
    InsufficientData,
    feature_matrix,
    time_split,
)
from matching.learning.gate import GateResult, compare
from matching.learning.ranking_metrics import evaluate
from matching.learning.scorer import LinearModelScorer
from matching.score import Scorer

# The fewest labelled examples a retraining job fits on and evaluates on.
MIN_TRAIN = 200
MIN_HOLDOUT = 50


@dataclass
class TrainingReport:
    """What a retraining job produced: the candidate scorer, held-out metrics of the candidate,
    the active model and the default scorer, sizes, periods, and the gate's verdict."""

    scorer: LinearModelScorer
    candidate: dict[str, Any]
    active: dict[str, Any]
    default: dict[str, Any]
    train_size: int
    holdout_size: int
    train_positives: int
    holdout_positives: int
    train_from: datetime
    train_to: datetime
    holdout_from: datetime
    holdout_to: datetime
    gate: GateResult

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form (datetimes as ISO 8601 strings)."""
        return {
            "version": self.scorer.version,
            "model": self.scorer.to_json(),
            "metrics": {
                "candidate": self.candidate,
                "active": self.active,
                "default": self.default,
            },
            "train_size": self.train_size,
            "holdout_size": self.holdout_size,
            "train_positives": self.train_positives,
            "holdout_positives": self.holdout_positives,
            "train_window": [self.train_from.isoformat(), self.train_to.isoformat()],
            "holdout_window": [self.holdout_from.isoformat(), self.holdout_to.isoformat()],
            "gate": self.gate.to_json(),
        }


def train_and_evaluate(
    examples: Sequence[Example],
    *,
    version: str,
    active: Scorer,
    default: Scorer,
    holdout_fraction: float = 0.25,
    k: int = 10,
    attributes: Sequence[str] = DEFAULT_ATTRIBUTES,
    trainer: ScorerTrainer | None = None,
    tolerance: float = 0.01,
    min_impact_ratio: float = 0.8,
    significance: float | None = 0.05,
    min_train: int = MIN_TRAIN,
    min_train_positives: int = 20,
    min_holdout: int = MIN_HOLDOUT,
    min_holdout_positives: int = 5,
) -> TrainingReport:
    """Split by time, fit on the earlier period, evaluate candidate / active / default on the
    latest period, and gate the candidate against the active model (:func:`compare`).

    Raises :class:`InsufficientData` unless the training period holds ``min_train`` examples
    with ``min_train_positives`` positives and as many negatives, and the held-out period
    ``min_holdout`` examples with ``min_holdout_positives`` positives. CPU-bound: run it off the
    event loop.
    """
    train, holdout = time_split(examples, holdout_fraction)
    tr_pos = sum(1 for ex in train if ex.label > 0)
    ho_pos = sum(1 for ex in holdout if ex.label > 0)
    needed = {
        "train": min_train,
        "train_positives": min_train_positives,
        "train_negatives": min_train_positives,
        "holdout": min_holdout,
        "holdout_positives": min_holdout_positives,
    }
    have = {
        "train": len(train),
        "train_positives": tr_pos,
        "train_negatives": len(train) - tr_pos,
        "holdout": len(holdout),
        "holdout_positives": ho_pos,
    }
    if any(have[key] < needed[key] for key in needed):
        raise InsufficientData(needed, have)
    labels = [ex.label for ex in train]
    fitted = (trainer if trainer is not None else ScorerTrainer()).fit(
        feature_matrix(train), labels
    )
    scorer = fitted.to_scorer(version)
    train_from, train_to = min(e.at for e in train), max(e.at for e in train)
    scorer.metadata["train_window"] = [train_from.isoformat(), train_to.isoformat()]
    scorer.metadata["holdout_fraction"] = holdout_fraction
    cand = evaluate(scorer, holdout, k=k, attributes=attributes)
    act = evaluate(active, holdout, k=k, attributes=attributes)
    dflt = evaluate(default, holdout, k=k, attributes=attributes)
    gate = compare(
        cand, act, tolerance=tolerance, min_impact_ratio=min_impact_ratio, significance=significance
    )
    return TrainingReport(
        scorer=scorer,
        candidate=cand,
        active=act,
        default=dflt,
        train_size=len(train),
        holdout_size=len(holdout),
        train_positives=tr_pos,
        holdout_positives=ho_pos,
        train_from=train_from,
        train_to=train_to,
        holdout_from=min(e.at for e in holdout),
        holdout_to=max(e.at for e in holdout),
        gate=gate,
    )
