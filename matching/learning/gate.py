"""The activation gate: a retrained model may replace the active one only if it is not worse
and passes the fairness gate (EU AI Act Art. 15; NYC LL144 four-fifths rule)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class GateResult:
    """Whether a candidate model may be activated. ``reasons`` say why it fails (empty when it
    passes); ``notes`` record what was not checked and why (e.g. too few known candidates)."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": list(self.reasons), "notes": list(self.notes)}


def compare(
    candidate_metrics: Mapping[str, Any],
    active_metrics: Mapping[str, Any],
    *,
    tolerance: float = 0.01,
    min_impact_ratio: float = 0.8,
    min_known: int = 50,
    min_group_size: int = 10,
    significance: float | None = 0.05,
) -> GateResult:
    """The activation gate (EU AI Act Art. 15), on :func:`evaluate` outputs for the same
    held-out examples and k.

    Fails when the candidate's NDCG@k is below the active model's minus ``tolerance`` (or is
    undefined), or when, for any attribute with enough data, a group's top-k impact ratio is
    below ``min_impact_ratio`` (the four-fifths rule, NYC LL144). "Enough data": at least
    ``min_known`` candidates with a known group; only groups with at least ``min_group_size``
    candidates count; and, unless ``significance`` is None, the group's shortfall must also be
    statistically significant: its ``p_lower`` (one-sided Fisher exact test against all other
    known candidates) below ``significance`` divided by the number of groups gated over all
    attributes (Bonferroni, so the gate as a whole wrongly fails a fair model with probability at
    most ``significance``). This pairs practical and statistical significance as the US Uniform
    Guidelines on Employee Selection Procedures do (29 CFR §1607.4(D): large differences based
    on small numbers that are not statistically significant need not show adverse impact);
    without it, the lowest of five noisy age-band rates falls under 0.8 of the highest by chance
    alone on a held-out set of a few hundred. Attributes and groups skipped are listed in
    ``notes``.
    """
    if candidate_metrics.get("k") != active_metrics.get("k"):
        raise ValueError(
            f"metrics use different k: {candidate_metrics.get('k')} and {active_metrics.get('k')}"
        )
    k = candidate_metrics.get("k")
    reasons: list[str] = []
    notes: list[str] = []
    cand = candidate_metrics.get("ndcg_at_k")
    act = active_metrics.get("ndcg_at_k")
    if cand is None:
        reasons.append(f"candidate NDCG@{k} is undefined: no held-out list has a positive label")
    elif act is None:
        notes.append(f"active model's NDCG@{k} is undefined; quality not compared")
    elif cand < act - tolerance:
        reasons.append(
            f"candidate NDCG@{k} {cand:.4f} is below the active model's {act:.4f} "
            f"minus the tolerance {tolerance}"
        )
    # (attribute, group, ratio, p-value) of every group with enough data, across attributes.
    gated: list[tuple[str, str, float, float | None]] = []
    for attr, fair in candidate_metrics.get("fairness", {}).items():
        known = int(fair.get("known", 0))
        if known < min_known:
            notes.append(
                f"{attr}: {known} candidates with a known group, fewer than {min_known}; "
                "impact ratios not gated"
            )
            continue
        totals: Mapping[str, int] = fair.get("totals", {})
        ratios: Mapping[str, float | None] = fair.get("impact_ratios", {})
        p_lower: Mapping[str, float] = fair.get("p_lower", {})
        small = sorted(g for g in ratios if totals.get(g, 0) < min_group_size)
        if small:
            notes.append(
                f"{attr}: groups with fewer than {min_group_size} candidates not gated: "
                + ", ".join(small)
            )
        gated += [
            (attr, g, r, p_lower.get(g))
            for g, r in sorted(ratios.items())
            if g not in small and r is not None
        ]
    level = None if significance is None or not gated else significance / len(gated)
    for attr, group, ratio, p in gated:
        if ratio >= min_impact_ratio:
            continue
        text = f"{attr}: top-{k} impact ratio of {group!r} is {ratio:.3f}, below {min_impact_ratio}"
        if level is None or p is None:
            reasons.append(text)
        elif p < level:
            reasons.append(f"{text} (p = {p:.2g} < {level:.2g})")
        else:
            notes.append(f"{text}, but not statistically significant (p = {p:.2g} >= {level:.2g})")
    return GateResult(passed=not reasons, reasons=reasons, notes=notes)
