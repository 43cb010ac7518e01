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
3. :class:`ScorerTrainer` (a scikit-learn estimator) fits an L2-regularised logistic regression
   on :func:`feature_matrix` (the pair features only: protected attributes cannot enter it) and
   yields a
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

Modules: :mod:`~matching.learning.examples` (labels, examples, design matrix, time split),
:mod:`~matching.learning.scorer` (the learned scorer and its artifact),
:mod:`~matching.learning.estimator` (the trainer), :mod:`~matching.learning.ranking_metrics`
(:func:`evaluate`), :mod:`~matching.learning.gate` (:func:`compare`) and
:mod:`~matching.learning.pipeline` (:func:`train_and_evaluate`); every public name is
re-exported here.
"""

from matching.learning.estimator import ScorerTrainer
from matching.learning.examples import (
    DEFAULT_ATTRIBUTES,
    EVENT_LABELS,
    IGNORED_EVENTS,
    Example,
    InsufficientData,
    feature_matrix,
    label_from_events,
    time_split,
)
from matching.learning.gate import GateResult, compare
from matching.learning.pipeline import MIN_HOLDOUT, MIN_TRAIN, TrainingReport, train_and_evaluate
from matching.learning.ranking_metrics import evaluate, ndcg_at_k, recall_at_k, reciprocal_rank
from matching.learning.scorer import ARTIFACT_FORMAT, BASELINE, LinearModelScorer

__all__ = [
    "ARTIFACT_FORMAT",
    "BASELINE",
    "DEFAULT_ATTRIBUTES",
    "EVENT_LABELS",
    "IGNORED_EVENTS",
    "MIN_HOLDOUT",
    "MIN_TRAIN",
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
