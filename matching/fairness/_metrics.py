"""Ranking fairness metrics: Skew@k, MinSkew@k, MaxSkew@k and NDKL (Geyik, Ambler, Kenthapadi,
KDD 2019), exposure (Singh, Joachims, "Fairness of Exposure in Rankings", KDD 2018), and the
selection- and scoring-rate impact ratios of NYC Local Law 144 (DCWP rules, 6 RCNY §5-300)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from matching.fairness._common import FloatArray, G, _as_scores, _check_targets, _encode

C = TypeVar("C", bound=Hashable)

#: Floor applied to shares and target shares inside logarithms (Skew@k, NDKL), so that a group
#: absent from the top k gets a large but finite skew, e.g. ln(1e-6 / 0.5) = -13.1, and every
#: reported value can be stored as JSON.
SKEW_FLOOR = 1e-6

#: The four-fifths rule: an impact ratio below this is flagged.
FOUR_FIFTHS = 0.8


@dataclass(frozen=True)
class ImpactRatioResult(Generic[C]):
    """Impact ratios per category (NYC LL144, DCWP rules §5-300).

    ``rates`` and ``ratios`` cover the categories kept in the calculation. A ratio is the
    category's rate divided by the highest rate; it is ``None`` when no kept category has a
    positive rate (undefined). ``excluded`` maps each category left out for holding fewer than
    ``min_share`` of the data (or no one at all) to its number of individuals, and
    ``excluded_rates`` gives their rates (``None`` when the category is empty), as the rules ask
    the summary to report them. ``flagged`` lists categories whose ratio is below 0.8.
    """

    rates: dict[C, float]
    ratios: dict[C, float | None]
    highest_rate: float
    excluded: dict[C, int]
    excluded_rates: dict[C, float | None]
    flagged: list[C]
    selected: dict[C, int]
    totals: dict[C, int]

    @property
    def excluded_count(self) -> int:
        """Number of categories left out of the calculation."""
        return len(self.excluded)

    @property
    def excluded_individuals(self) -> int:
        """Number of individuals in the categories left out of the calculation."""
        return sum(self.excluded.values())

    def as_dict(self) -> dict[str, object]:
        """JSON-safe form: category keys become strings, values plain numbers or null."""
        return {
            "rates": {str(c): v for c, v in self.rates.items()},
            "ratios": {str(c): v for c, v in self.ratios.items()},
            "highest_rate": self.highest_rate,
            "selected": {str(c): v for c, v in self.selected.items()},
            "totals": {str(c): v for c, v in self.totals.items()},
            "excluded": {str(c): v for c, v in self.excluded.items()},
            "excluded_rates": {str(c): v for c, v in self.excluded_rates.items()},
            "excluded_count": self.excluded_count,
            "excluded_individuals": self.excluded_individuals,
            "flagged": [str(c) for c in self.flagged],
        }


def position_weights(n: int, k: int | None = None) -> FloatArray:
    """Singh & Joachims (KDD 2018) position weights ``v_j = 1 / log2(1 + j)``, 0 beyond k."""
    j = np.arange(1, n + 1, dtype=np.float64)
    v: FloatArray = 1.0 / np.log2(1.0 + j)
    if k is not None:
        v[max(0, k) :] = 0.0
    return v


def _log_ratio(share: float, target: float) -> float:
    return math.log(max(share, SKEW_FLOOR) / max(target, SKEW_FLOOR))


def skew_at_k(groups_in_rank_order: Sequence[G], group: G, target_share: float, k: int) -> float:
    """Skew_g@k = ln(share of g in the top k / p_g) (Geyik et al., KDD 2019).

    The top k is cut at the list length. Shares and targets are floored at ``SKEW_FLOOR``
    (1e-6) inside the logarithm, so a group absent from the top k gets a large negative but
    finite value. An empty list gives 0.0.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    target = float(target_share)
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target_share must lie in [0, 1], got {target}")
    top = list(groups_in_rank_order)[:k]
    if not top:
        return 0.0
    share = sum(1 for g in top if g == group) / len(top)
    return _log_ratio(share, target)


def min_max_skew(
    groups_in_rank_order: Sequence[G], targets: Mapping[G, float], k: int
) -> tuple[float, float]:
    """(MinSkew@k, MaxSkew@k) over the groups with a positive target share.

    Returns (0.0, 0.0) when no group has a positive target or the list is empty.
    """
    tg = _check_targets(targets)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    top = list(groups_in_rank_order)[:k]
    if not top:
        return (0.0, 0.0)
    counts: dict[G, int] = {}
    for g in top:
        counts[g] = counts.get(g, 0) + 1
    skews = [_log_ratio(counts.get(g, 0) / len(top), v) for g, v in tg.items() if v > 0.0]
    if not skews:
        return (0.0, 0.0)
    return (min(skews), max(skews))


def ndkl(
    groups_in_rank_order: Sequence[G], targets: Mapping[G, float], *, k: int | None = None
) -> float:
    """Normalised discounted KL divergence (Geyik et al., KDD 2019). 0 is perfect.

    ``NDKL = (1/Z) sum_{i=1..n} KL(D_i || p) / log2(i + 1)`` with ``Z = sum 1 / log2(i + 1)``,
    ``D_i`` the group distribution of the top i and KL in nats. Groups missing from
    ``targets`` share an "other" bucket whose target is ``1 - sum(targets)``; target shares
    are floored at ``SKEW_FLOOR`` inside the logarithm, keeping the value finite. ``k`` cuts
    the list (default: the whole list). An empty list gives 0.0.
    """
    tg = _check_targets(targets)
    ranked = list(groups_in_rank_order)
    if k is not None:
        ranked = ranked[: max(0, k)]
    n = len(ranked)
    if n == 0:
        return 0.0
    keys = list(tg)
    pos = {g: i for i, g in enumerate(keys)}
    other = len(keys)
    codes = np.fromiter((pos.get(g, other) for g in ranked), dtype=np.int64, count=n)
    target = np.array([*tg.values(), max(0.0, 1.0 - sum(tg.values()))], dtype=np.float64)
    onehot = np.zeros((n, other + 1), dtype=np.float64)
    onehot[np.arange(n), codes] = 1.0
    dist = np.cumsum(onehot, axis=0) / np.arange(1, n + 1, dtype=np.float64)[:, None]
    logt = np.log(np.maximum(target, SKEW_FLOOR))
    with np.errstate(divide="ignore"):
        logd = np.where(dist > 0.0, np.log(np.where(dist > 0.0, dist, 1.0)), 0.0)
    kl = (dist * (logd - logt[None, :])).sum(axis=1)
    w = position_weights(n)
    return float(max(0.0, (w * kl).sum() / w.sum()))


def exposure_by_group(groups_in_rank_order: Sequence[G], *, k: int | None = None) -> dict[G, float]:
    """Mean position weight of each group's members (Singh & Joachims, KDD 2018).

    Position ``j`` (1-based) has weight ``1 / log2(1 + j)``; with ``k`` positions beyond it
    weigh 0 (not shown). Keys are the groups present in the list, in first-seen order.
    """
    ranked = list(groups_in_rank_order)
    names, codes = _encode(ranked)
    if not names:
        return {}
    w = position_weights(len(ranked), k)
    total = np.bincount(codes, weights=w, minlength=len(names))
    count = np.bincount(codes, minlength=len(names))
    return {g: float(total[i] / count[i]) for i, g in enumerate(names)}


def exposure_ratio(exposure: Mapping[G, float]) -> float:
    """Smallest group exposure divided by the largest; 1.0 for fewer than two groups or none
    exposed."""
    vals = [float(v) for v in exposure.values()]
    if len(vals) < 2:
        return 1.0
    hi = max(vals)
    if hi <= 0.0:
        return 1.0
    return min(vals) / hi


def exposure_per_relevance(
    groups_in_rank_order: Sequence[G], relevance: npt.ArrayLike, *, k: int | None = None
) -> dict[G, float]:
    """Exposure divided by mean relevance per group (Singh & Joachims, KDD 2018, disparate
    treatment: equal values mean exposure proportional to merit).

    ``relevance`` is aligned with ``groups_in_rank_order``. Groups whose mean relevance is not
    positive are left out (the ratio is undefined).
    """
    ranked = list(groups_in_rank_order)
    rel = np.asarray(relevance, dtype=np.float64)
    if rel.shape != (len(ranked),):
        raise ValueError("relevance must align with groups_in_rank_order")
    exposure = exposure_by_group(ranked, k=k)
    names, codes = _encode(ranked)
    total = np.bincount(codes, weights=rel, minlength=len(names))
    count = np.bincount(codes, minlength=len(names))
    out: dict[G, float] = {}
    for i, g in enumerate(names):
        mean_rel = float(total[i] / count[i])
        if mean_rel > 0.0 and math.isfinite(mean_rel):
            out[g] = exposure[g] / mean_rel
    return out


def impact_ratios(
    selected_by_category: Mapping[C, int],
    total_by_category: Mapping[C, int],
    min_share: float = 0.02,
) -> ImpactRatioResult[C]:
    """Selection-rate impact ratios (NYC Local Law 144; DCWP rules, 6 RCNY §5-300).

    The selection rate of a category is ``selected / total``; its impact ratio is that rate
    divided by the highest rate among the categories kept. Categories holding less than
    ``min_share`` of all individuals (2 % by default, as §5-301 permits) or none at all are
    left out and reported in ``excluded`` with their size and rate. Ratios below 0.8 (the
    four-fifths rule) are ``flagged``. Categories may be intersections (tuples).
    """
    if not 0.0 <= min_share < 1.0:
        raise ValueError(f"min_share must lie in [0, 1), got {min_share}")
    unknown = [c for c in selected_by_category if c not in total_by_category]
    if unknown:
        raise ValueError(f"selected counts for categories without totals: {unknown!r}")
    totals = {c: int(v) for c, v in total_by_category.items()}
    selected = {c: int(selected_by_category.get(c, 0)) for c in totals}
    for c in totals:
        if totals[c] < 0 or selected[c] < 0:
            raise ValueError(f"negative count for category {c!r}")
        if selected[c] > totals[c]:
            raise ValueError(f"category {c!r}: {selected[c]} selected of {totals[c]}")
    grand = sum(totals.values())
    rates: dict[C, float] = {}
    excluded: dict[C, int] = {}
    excluded_rates: dict[C, float | None] = {}
    for c, tot in totals.items():
        rate = selected[c] / tot if tot else None
        if tot == 0 or tot / grand < min_share:
            excluded[c] = tot
            excluded_rates[c] = rate
        else:
            rates[c] = selected[c] / tot
    highest = max(rates.values(), default=0.0)
    ratios: dict[C, float | None] = {
        c: (r / highest if highest > 0.0 else None) for c, r in rates.items()
    }
    flagged = [c for c, r in ratios.items() if r is not None and r < FOUR_FIFTHS]
    return ImpactRatioResult(
        rates, ratios, highest, excluded, excluded_rates, flagged, selected, totals
    )


def scoring_rate_impact_ratios(
    scores: npt.ArrayLike, categories: Sequence[C], min_share: float = 0.02
) -> ImpactRatioResult[C]:
    """Scoring-rate impact ratios (DCWP rules §5-300): the rate of a category is the share of
    its members scoring strictly above the median score of the whole sample."""
    s = _as_scores(scores)
    cats = list(categories)
    if len(cats) != s.size:
        raise ValueError(f"categories has {len(cats)} entries, scores {s.size}")
    if s.size == 0:
        return impact_ratios({}, {}, min_share)
    above = s > float(np.median(s))
    names, codes = _encode(cats)
    tot = np.bincount(codes, minlength=len(names))
    sel = np.bincount(codes[above], minlength=len(names))
    return impact_ratios(
        {g: int(sel[i]) for i, g in enumerate(names)},
        {g: int(tot[i]) for i, g in enumerate(names)},
        min_share,
    )


def fairness_report(
    groups_in_rank_order: Sequence[G], targets: Mapping[G, float], k: int
) -> dict[str, float | int | dict[str, float]]:
    """JSON-safe fairness metrics of the top ``k`` of a ranked list (all values finite).

    Keys: ``k`` (the cut actually used, at most the list length), ``n`` (list length),
    ``share`` (share of each group in the top k: target groups and every group present),
    ``target``, ``skew`` (Skew@k per target group), ``min_skew`` / ``max_skew`` (over groups with
    a positive target), ``ndkl`` (over the top k), ``exposure`` (per group present in the list,
    positions beyond k weigh 0) and ``exposure_ratio`` (min / max exposure over the target
    groups present in the list, or over all groups present when none are). Group keys are
    ``str(group)``. Store it before and after re-ranking to show the effect.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    tg = _check_targets(targets)
    ranked = list(groups_in_rank_order)
    top = ranked[:k]
    kk = len(top)
    counts: dict[G, int] = {}
    for g in top:
        counts[g] = counts.get(g, 0) + 1
    keys: list[G] = list(tg)
    keys += [g for g in dict.fromkeys(ranked) if g not in tg]
    share = {str(g): (counts.get(g, 0) / kk if kk else 0.0) for g in keys}
    skew = {str(g): (_log_ratio(counts.get(g, 0) / kk, v) if kk else 0.0) for g, v in tg.items()}
    lo, hi = min_max_skew(top, tg, k) if kk else (0.0, 0.0)
    exposure = exposure_by_group(ranked, k=k)
    in_targets = {g: v for g, v in exposure.items() if g in tg}
    ratio = exposure_ratio(in_targets if in_targets else exposure)
    return {
        "k": kk,
        "n": len(ranked),
        "share": share,
        "target": {str(g): v for g, v in tg.items()},
        "skew": skew,
        "min_skew": lo,
        "max_skew": hi,
        "ndkl": ndkl(top, tg),
        "exposure": {str(g): v for g, v in exposure.items()},
        "exposure_ratio": ratio,
    }
