"""Ranking quality (NDCG@k, recall@k, MRR, AUC) and the fairness of the rankings a scorer would
produce, measured on held-out lists.

References: Järvelin, Kekäläinen, ACM TOIS 20(4), 2002 -- (N)DCG, with the ``1 / log2(i + 1)``
discount and linear gain of Burges et al., ICML 2005 (as ``sklearn.metrics.ndcg_score``);
Voorhees, TREC 1999 -- mean reciprocal rank; Hanley, McNeil, Radiology 143, 1982 -- AUC; NYC
Local Law 144, DCWP rules 6 RCNY §5-300 -- impact ratios; Geyik et al., KDD 2019 -- NDKL; Singh,
Joachims, KDD 2018 -- exposure (all via :mod:`matching.fairness`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import fisher_exact
from sklearn.metrics import roc_auc_score

from matching.fairness import exposure_by_group, exposure_ratio, impact_ratios, ndkl
from matching.fairness.policy import UNKNOWN, group_label, pool_shares
from matching.learning.examples import DEFAULT_ATTRIBUTES, Example
from matching.score import Scorer, total


def ndcg_at_k(labels_in_rank_order: Sequence[float], k: int) -> float | None:
    """NDCG@k (Järvelin & Kekäläinen 2002): DCG@k / ideal DCG@k with linear gain and discount
    ``1 / log2(i + 1)`` for 1-based position i. None when the list has no positive label (the
    ideal DCG is 0 and the ratio undefined)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rel = np.asarray(labels_in_rank_order, dtype=np.float64)
    if rel.size == 0:
        return None
    disc = 1.0 / np.log2(np.arange(2, min(k, rel.size) + 2, dtype=np.float64))
    ideal = float(np.sort(rel)[::-1][: disc.size] @ disc)
    if ideal <= 0.0:
        return None
    return float(rel[: disc.size] @ disc) / ideal


def recall_at_k(labels_in_rank_order: Sequence[float], k: int) -> float | None:
    """Share of the list's positives (label > 0) placed in the top k; None without positives."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    pos = [lab > 0 for lab in labels_in_rank_order]
    n = sum(pos)
    if n == 0:
        return None
    return sum(pos[:k]) / n


def reciprocal_rank(labels_in_rank_order: Sequence[float]) -> float | None:
    """1 / position of the first positive (Voorhees 1999); None without positives."""
    for i, lab in enumerate(labels_in_rank_order, start=1):
        if lab > 0:
            return 1.0 / i
    return None


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return math.fsum(kept) / len(kept) if kept else None


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    fv = float(value)
    return fv if math.isfinite(fv) else None


def _rank_lists(scorer: Scorer, examples: Sequence[Example]) -> tuple[list[list[int]], list[float]]:
    """Indices of each list's examples, best first by the scorer (lists in list_id order), and
    the score of every example.

    Ties are broken by (seeker_id, posting_id), not by input order, so the order the lists were
    stored in (the active model's ranking) cannot leak into another scorer's evaluation.
    """
    scores: list[float] = []
    for ex in examples:
        s = total(scorer.contributions(ex.features))
        if not math.isfinite(s):
            raise ValueError(f"scorer {scorer.version!r} gave a non-finite score: {s!r}")
        scores.append(s)
    lists: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        lists.setdefault(ex.list_id, []).append(i)
    ranked = [
        sorted(idx, key=lambda i: (-scores[i], examples[i].seeker_id, examples[i].posting_id))
        for _, idx in sorted(lists.items())
    ]
    return ranked, scores


def _fairness_for(
    attribute: str, examples: Sequence[Example], ranked: Sequence[Sequence[int]], k: int
) -> dict[str, Any]:
    selected: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    unknown = 0
    ndkls: list[float | None] = []
    ratios: list[float | None] = []
    for order in ranked:
        labels = [group_label(examples[i].groups, (attribute,)) for i in order]
        for pos, g in enumerate(labels):
            if g == UNKNOWN:
                unknown += 1
                continue
            totals[g] += 1
            if pos < k:
                selected[g] += 1
        known = [g for g in labels if g != UNKNOWN]
        shares = pool_shares(known)
        if len(shares) >= 2:
            # NDKL of the known candidates' order, cut at k, against the list's known pool.
            ndkls.append(ndkl(known, shares, k=k))
            exposure = exposure_by_group(labels, k=k)
            ratios.append(exposure_ratio({g: v for g, v in exposure.items() if g != UNKNOWN}))
    result = impact_ratios(dict(selected), dict(totals)) if totals else None
    kept = {} if result is None else {g: r for g, r in result.ratios.items() if r is not None}
    worst = min(kept, key=lambda g: (kept[g], g)) if kept else None
    n_sel, n_all = sum(selected.values()), sum(totals.values())
    p_lower: dict[str, float] = {}
    for g in kept:
        a, n = selected.get(g, 0), totals[g]
        b, m = n_sel - a, n_all - n
        if m > 0:
            # One-sided Fisher exact test: is g selected less often than everyone else known?
            test = fisher_exact([[a, n - a], [b, m - b]], alternative="less")
            p_lower[g] = float(min(1.0, max(0.0, float(test.pvalue))))
    return {
        "known": sum(totals.values()),
        "unknown": unknown,
        "totals": dict(sorted(totals.items())),
        "selected": {g: selected.get(g, 0) for g in sorted(totals)},
        "selection_rates": {} if result is None else dict(result.rates),
        "impact_ratios": {} if result is None else dict(result.ratios),
        "excluded": {} if result is None else dict(result.excluded),
        "flagged": [] if result is None else list(result.flagged),
        "min_impact_ratio": None if worst is None else kept[worst],
        "min_impact_group": worst,
        "p_lower": p_lower,
        "lists_with_two_groups": len(ndkls),
        "ndkl_mean": _mean(ndkls),
        "exposure_ratio_mean": _mean(ratios),
    }


def evaluate(
    scorer: Scorer,
    examples: Sequence[Example],
    *,
    k: int = 10,
    attributes: Sequence[str] = DEFAULT_ATTRIBUTES,
) -> dict[str, Any]:
    """Quality and fairness of the rankings ``scorer`` would produce for the lists in
    ``examples``; every value JSON-safe (finite floats, ints, strings, None).

    Each list's examples are re-scored and ranked (ties by seeker and posting id). Quality,
    averaged over the lists holding at least one positive: ``ndcg_at_k`` (:func:`ndcg_at_k`),
    ``recall_at_k`` (:func:`recall_at_k`), ``mrr`` (:func:`reciprocal_rank`); ``auc`` is the
    ROC AUC of the scores against label > 0 over all examples pooled (None with one class).

    Fairness, per attribute in ``fairness[attribute]``: a candidate is "selected" when placed in
    its list's top k; counts are summed over the lists and turned into selection-rate impact
    ratios (NYC LL144, via :func:`matching.fairness.impact_ratios`; groups under 2 % of the known
    candidates are ``excluded``). Candidates with an unknown group (no consent) are left out and
    counted in ``unknown``. ``min_impact_ratio`` is the lowest ratio (``min_impact_group`` its
    group). ``p_lower`` gives, per group, the one-sided Fisher exact p-value that its selection
    rate is lower than that of all other known candidates (Fisher, "On the interpretation of χ²
    from contingency tables", JRSS 85, 1922), for the gate's significance check.
    Over the lists whose known candidates span at least two groups: ``ndkl_mean`` is the
    mean NDKL (Geyik et al. 2019) of the known candidates' order cut at k against that list's
    known pool shares, and ``exposure_ratio_mean`` the mean min/max group exposure (Singh &
    Joachims 2018) with positions beyond k weighing 0.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    ranked, scores = _rank_lists(scorer, examples)
    ndcgs: list[float | None] = []
    recalls: list[float | None] = []
    rrs: list[float | None] = []
    for order in ranked:
        labels = [examples[i].label for i in order]
        ndcgs.append(ndcg_at_k(labels, k))
        recalls.append(recall_at_k(labels, k))
        rrs.append(reciprocal_rank(labels))
    y = np.array([ex.label > 0 for ex in examples], dtype=np.int64)
    auc: float | None = None
    if 0 < int(y.sum()) < y.size:
        auc = _finite(float(roc_auc_score(y, np.asarray(scores, dtype=np.float64))))
    return {
        "scorer_version": scorer.version,
        "k": k,
        "examples": len(examples),
        "positives": int(y.sum()),
        "lists": len(ranked),
        "lists_with_positive": sum(1 for v in ndcgs if v is not None),
        "ndcg_at_k": _finite(_mean(ndcgs)),
        "recall_at_k": _finite(_mean(recalls)),
        "mrr": _finite(_mean(rrs)),
        "auc": auc,
        "fairness": {a: _fairness_for(a, examples, ranked, k) for a in attributes},
    }
