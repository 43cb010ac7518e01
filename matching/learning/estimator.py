"""Learn a scorer from caseworker decisions and outcomes, and decide whether it may replace the
active one.

Pure Python / numpy / scikit-learn: no web, database or settings imports. The service turns its
stored match items (each with the ``features`` it was ranked on) and the decisions and outcomes
recorded for the same seeker–posting pair into :class:`Example` rows, then calls
:func:`train_and_evaluate` in a background job.

Pipeline
--------
1. :func:`label_from_events` turns a pair's events into a graded relevance label.
2. :func:`time_split` holds out the latest period (whole ranked lists, never split).
3. :class:`ScorerTrainer` fits an L2-regularised logistic regression on :func:`feature_matrix`
   (the pair features only: protected attributes cannot enter it) and yields a
   :class:`LinearModelScorer`, whose artifact is plain JSON coefficients (nothing pickled).
4. :func:`evaluate` re-ranks every held-out list with a scorer and measures ranking quality
   (NDCG@k, recall@k, MRR, AUC) and the fairness of the rankings it would produce (top-k
   impact ratios, NDKL, exposure ratio), for the candidate, the active model and the default.
5. :func:`compare` is the activation gate (EU AI Act Art. 15: a retrain cannot be activated if it
   is worse or fails the fairness gate).

References
----------
* Järvelin, Kekäläinen, "Cumulated gain-based evaluation of IR techniques", ACM TOIS 20(4),
  2002 -- (N)DCG. The discount used is ``1 / log2(i + 1)`` with linear gain, the form of Burges
  et al., "Learning to rank using gradient descent", ICML 2005, also used by
  ``sklearn.metrics.ndcg_score``.
* Voorhees, "The TREC-8 Question Answering Track Report", TREC 1999 -- mean reciprocal rank.
* Hanley, McNeil, "The meaning and use of the area under a ROC curve", Radiology 143, 1982 --
  AUC as the probability that a random positive outscores a random negative.
* NYC Local Law 144 of 2021, DCWP rules 6 RCNY §5-300 -- selection-rate impact ratios and the
  four-fifths rule; Geyik, Ambler, Kenthapadi, KDD 2019 -- NDKL; Singh, Joachims, KDD 2018 --
  exposure (all via :mod:`matching.fairness`).
* Cox, "The regression analysis of binary sequences", JRSS B 20(2), 1958 -- logistic regression;
  its log-odds are additive in the features, which is what makes per-factor contributions exact.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import fisher_exact
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from matching.fairness import exposure_by_group, exposure_ratio, impact_ratios, ndkl
from matching.fairness.policy import UNKNOWN, group_label, pool_shares
from matching.features import FEATURE_NAMES
from matching.score import Scorer, total

__all__ = [
    "ARTIFACT_FORMAT",
    "BASELINE",
    "DEFAULT_ATTRIBUTES",
    "EVENT_LABELS",
    "IGNORED_EVENTS",
    "Example",
    "GateResult",
    "InsufficientData",
    "LinearModelScorer",
    "ScorerTrainer",
    "TrainingReport",
    "compare",
    "evaluate",
    "feature_matrix",
    "label_from_events",
    "ndcg_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "time_split",
    "train_and_evaluate",
]

FloatArray = npt.NDArray[np.float64]

#: Name of the contribution that carries the model's intercept.
BASELINE = "baseline"

#: ``format`` tag of a :class:`LinearModelScorer` artifact.
ARTIFACT_FORMAT = "jobmatch.linear-scorer"
_ARTIFACT_VERSION = 1

DEFAULT_ATTRIBUTES: tuple[str, ...] = ("gender", "age_band", "disability", "migrant_background")

#: Graded relevance of each event a seeker–posting pair can have. The best event wins.
#: Caseworker decisions (``shortlist``, ``contact``, ``reject``) and outcomes (``applied``,
#: ``interviewed``, ``hired``, ``not_hired``) share one scale:
#:
#: * 3 -- ``hired``
#: * 2 -- ``interviewed``
#: * 1 -- ``shortlist`` / ``contact`` / ``applied`` (someone judged the pair worth pursuing)
#: * 0 -- ``reject`` / ``not_hired``
#:
#: Because the best event wins, ``not_hired`` after ``interviewed`` still counts the interview
#: (label 2): the employer judged the person worth meeting, which is what a ranking should find;
#: losing to one other candidate does not make the pair irrelevant. Likewise a pair shortlisted
#: and later rejected keeps label 1. Past-tense spellings are accepted.
EVENT_LABELS: Mapping[str, float] = {
    "hired": 3.0,
    "interviewed": 2.0,
    "shortlist": 1.0,
    "shortlisted": 1.0,
    "contact": 1.0,
    "contacted": 1.0,
    "applied": 1.0,
    "reject": 0.0,
    "rejected": 0.0,
    "not_hired": 0.0,
}

#: Events that say nothing about relevance: a rank ``override`` moves an item without saying
#: whether it fits (its direction is not an event).
IGNORED_EVENTS: frozenset[str] = frozenset({"override", "overridden"})


def label_from_events(events: Sequence[str]) -> float | None:
    """Graded relevance of a pair from its events (see :data:`EVENT_LABELS`); None when no event
    carries a label (an unlabelled pair is left out of training and evaluation).

    Events are case-insensitive. An event that is neither in :data:`EVENT_LABELS` nor in
    :data:`IGNORED_EVENTS` raises ValueError, so a new event type is mapped deliberately.
    """
    best: float | None = None
    for raw in events:
        event = raw.strip().lower()
        if event in IGNORED_EVENTS:
            continue
        if event not in EVENT_LABELS:
            raise ValueError(f"unknown event {raw!r}; known: {sorted(EVENT_LABELS)}")
        value = EVENT_LABELS[event]
        best = value if best is None else max(best, value)
    return best


@dataclass(frozen=True)
class Example:
    """One labelled pair of a ranked list.

    ``features`` are the pair features the list was ranked on (:data:`FEATURE_NAMES`, values in
    [0, 1] or None when unknown). ``label`` is graded relevance (:func:`label_from_events`); a
    label above 0 counts as positive. ``at`` is when the list was produced. ``groups`` maps a
    protected attribute to the person's group, only for consenting people and only for the
    fairness evaluation: it never reaches :func:`feature_matrix` or a scorer.
    """

    list_id: str
    seeker_id: str
    posting_id: str
    features: Mapping[str, float | None]
    label: float
    at: datetime
    groups: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not math.isfinite(self.label) or self.label < 0:
            raise ValueError(f"label must be a finite number >= 0, got {self.label!r}")


class InsufficientData(ValueError):
    """Too few labelled examples to train and evaluate honestly.

    ``needed`` and ``have`` map the same keys (``train``, ``train_positives``,
    ``train_negatives``, ``holdout``, ``holdout_positives``) to counts.
    """

    def __init__(self, needed: Mapping[str, int], have: Mapping[str, int]) -> None:
        self.needed = dict(needed)
        self.have = dict(have)
        n, h = self.needed, self.have
        super().__init__(
            f"need at least {n.get('train', 0)} labelled examples with both positive and "
            f"negative labels (at least {n.get('train_positives', 0)} positive and "
            f"{n.get('train_negatives', 0)} negative) in the training period and "
            f"{n.get('holdout', 0)} (at least {n.get('holdout_positives', 0)} positive) in the "
            f"held-out period; have {h.get('train', 0)} ({h.get('train_positives', 0)} positive, "
            f"{h.get('train_negatives', 0)} negative) and {h.get('holdout', 0)} "
            f"({h.get('holdout_positives', 0)} positive)"
        )


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


def _value(features: Mapping[str, float | None], name: str) -> float:
    v = features.get(name)
    if v is None:
        return 0.0
    fv = float(v)
    if not math.isfinite(fv):
        raise ValueError(f"feature {name!r} is not finite: {v!r}")
    return fv


def feature_matrix(examples: Sequence[Example]) -> FloatArray:
    """The design matrix, shape ``(len(examples), len(FEATURE_NAMES))``, columns in
    :data:`FEATURE_NAMES` order.

    Built from the pair features only, so protected attributes (``Example.groups``) cannot enter a
    model. An unknown feature (None) is 0.0, as in the default scorer: missing data is never a
    match. No "is known" indicator is added on purpose: with one, a model could learn that an
    unknown salary beats a known one, and a contribution would no longer be "weight × value"
    that a caseworker can read like the default scorer's. Keys outside :data:`FEATURE_NAMES` are
    ignored; non-finite values raise ValueError.
    """
    x = np.zeros((len(examples), len(FEATURE_NAMES)), dtype=np.float64)
    for i, ex in enumerate(examples):
        for j, name in enumerate(FEATURE_NAMES):
            x[i, j] = _value(ex.features, name)
    return x


# --------------------------------------------------------------------------------------------
# Time split
# --------------------------------------------------------------------------------------------


def time_split(
    examples: Sequence[Example], holdout_fraction: float = 0.25
) -> tuple[list[Example], list[Example]]:
    """(train, holdout): the held-out set is the latest period, about ``holdout_fraction`` of the
    examples.

    Whole lists stay on one side: a list's time is the earliest ``at`` of its examples. Lists
    are taken from the latest backwards until the held-out share is reached; lists produced at
    the same instant as the last one taken go with it, so every training list is strictly
    earlier than every held-out list. Input order is kept within each side.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must lie in (0, 1), got {holdout_fraction}")
    if not examples:
        return [], []
    list_time: dict[str, datetime] = {}
    list_size: Counter[str] = Counter()
    for ex in examples:
        t = list_time.get(ex.list_id)
        list_time[ex.list_id] = ex.at if t is None else min(t, ex.at)
        list_size[ex.list_id] += 1
    order = sorted(list_time, key=lambda lid: (list_time[lid], lid), reverse=True)
    want = holdout_fraction * len(examples)
    held: set[str] = set()
    count = 0
    cutoff: datetime | None = None
    for lid in order:
        if count >= want and cutoff is not None and list_time[lid] < cutoff:
            break
        held.add(lid)
        count += list_size[lid]
        cutoff = list_time[lid]
    train = [ex for ex in examples if ex.list_id not in held]
    holdout = [ex for ex in examples if ex.list_id in held]
    return train, holdout


# --------------------------------------------------------------------------------------------
# The learned scorer
# --------------------------------------------------------------------------------------------


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


class ScorerTrainer:
    """Fits a :class:`LinearModelScorer` by L2-regularised logistic regression (Cox 1958) on
    binarised labels (label > 0 is positive), following scikit-learn's estimator conventions.

    Parameters: ``C`` (inverse regularisation strength), ``class_weight`` (``"balanced"``
    reweights classes inversely to their frequency, so a rare positive class still shapes the
    weights; None for none), ``grade_weighted`` (a positive example weighs its label, so a hire
    counts three times a shortlist and the fit leans toward the outcomes NDCG rewards most),
    ``max_iter``.

    Learned attributes: ``coef_`` (feature → weight), ``intercept_``, ``n_examples_``,
    ``n_positive_``. ``scorer_(version)`` returns the scorer.
    """

    def __init__(
        self,
        C: float = 1.0,
        *,
        class_weight: str | None = "balanced",
        grade_weighted: bool = True,
        max_iter: int = 1000,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.grade_weighted = grade_weighted
        self.max_iter = max_iter

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {
            "C": self.C,
            "class_weight": self.class_weight,
            "grade_weighted": self.grade_weighted,
            "max_iter": self.max_iter,
        }

    def set_params(self, **params: Any) -> ScorerTrainer:
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"invalid parameter {key!r}")
            setattr(self, key, value)
        return self

    def fit(self, examples: Sequence[Example]) -> ScorerTrainer:
        """Fit on ``examples``; needs at least one positive and one negative example."""
        x = feature_matrix(examples)
        labels = np.array([ex.label for ex in examples], dtype=np.float64)
        y = (labels > 0).astype(np.int64)
        n_pos = int(y.sum())
        n_neg = int(y.size - n_pos)
        if n_pos == 0 or n_neg == 0:
            raise InsufficientData(
                {"train": 2, "train_positives": 1, "train_negatives": 1},
                {"train": int(y.size), "train_positives": n_pos, "train_negatives": n_neg},
            )
        weight = np.where(y == 1, labels, 1.0) if self.grade_weighted else np.ones(y.size)
        model = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
        model.fit(x, y, sample_weight=weight)
        coef = np.asarray(model.coef_, dtype=np.float64).ravel()
        self.coef_: dict[str, float] = {
            name: float(c) for name, c in zip(FEATURE_NAMES, coef, strict=True)
        }
        self.intercept_: float = float(np.asarray(model.intercept_, dtype=np.float64)[0])
        self.n_examples_: int = int(y.size)
        self.n_positive_: int = n_pos
        return self

    def scorer_(self, version: str) -> LinearModelScorer:
        """The fitted model as a scorer named ``version``."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("ScorerTrainer is not fitted yet; call fit(examples) first")
        return LinearModelScorer(
            version,
            self.coef_,
            self.intercept_,
            metadata={
                "model": "logistic_regression",
                "params": self.get_params(),
                "n_examples": self.n_examples_,
                "n_positive": self.n_positive_,
            },
        )


# --------------------------------------------------------------------------------------------
# Ranking metrics
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Gate
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The whole job
# --------------------------------------------------------------------------------------------


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
    min_train: int = 200,
    min_train_positives: int = 20,
    min_holdout: int = 50,
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
    fitted = (trainer if trainer is not None else ScorerTrainer()).fit(train)
    scorer = fitted.scorer_(version)
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
