"""Moved to :mod:`matching.learning`; this shim keeps the names ``service/`` imports until its
imports are switched (then delete this file)."""

from matching.learning import (
    Example,
    InsufficientData,
    LinearModelScorer,
    compare,
    evaluate,
    label_from_events,
    train_and_evaluate,
)

__all__ = [
    "Example",
    "InsufficientData",
    "LinearModelScorer",
    "compare",
    "evaluate",
    "label_from_events",
    "train_and_evaluate",
]
