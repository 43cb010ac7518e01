"""Moved to :mod:`matching.fairness.policy`; this shim keeps the names ``service/`` imports
until its imports are switched (then delete this file)."""

from matching.fairness.policy import (
    FairnessPolicy,
    apply_policy,
    group_label,
    placement_counts,
)

__all__ = ["FairnessPolicy", "apply_policy", "group_label", "placement_counts"]
