"""The trainer: an L2-regularised logistic regression on the pair features that follows
scikit-learn's estimator contract (``__init__`` stores parameters only, ``fit(X, y,
sample_weight=None)`` returns ``self``, learned attributes end in ``_``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from matching.features import FEATURE_NAMES
from matching.learning.examples import FloatArray, InsufficientData
from matching.learning.scorer import LinearModelScorer


class ScorerTrainer(BaseEstimator):  # type: ignore[misc]
    """Fits a linear ranking score by L2-regularised logistic regression (Cox 1958) on binarised
    graded labels (label > 0 is positive), as a scikit-learn estimator.

    Parameters: ``C`` (inverse regularisation strength), ``class_weight`` (``"balanced"``
    reweights classes inversely to their frequency, so a rare positive class still shapes the
    weights; None for none), ``grade_weighted`` (a positive example weighs its label, so a hire
    counts three times a shortlist and the fit leans toward the outcomes NDCG rewards most),
    ``max_iter``.

    ``fit(X, y, sample_weight=None)`` takes the design matrix (:func:`feature_matrix`) and the
    graded labels (finite, >= 0); it raises :class:`InsufficientData` without both a positive
    and a negative example. Learned attributes: ``coef_`` (one weight per column),
    ``intercept_``, ``n_features_in_``, ``n_examples_``, ``n_positive_``.
    :meth:`decision_function` (also :meth:`predict`) gives the ranking score, the log-odds of a
    positive label; :meth:`to_scorer` turns a model fitted on :data:`FEATURE_NAMES` columns into
    a :class:`LinearModelScorer`.
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

    def fit(
        self, X: npt.ArrayLike, y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None
    ) -> ScorerTrainer:
        """Fit on the design matrix ``X`` and graded labels ``y``; returns ``self``."""
        x, labels = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        labels = np.asarray(labels, dtype=np.float64)
        if (labels < 0).any():
            raise ValueError("labels must be graded relevance >= 0")
        target = (labels > 0).astype(np.int64)
        n_pos = int(target.sum())
        n_neg = int(target.size - n_pos)
        if n_pos == 0 or n_neg == 0:
            raise InsufficientData(
                {"train": 2, "train_positives": 1, "train_negatives": 1},
                {"train": int(target.size), "train_positives": n_pos, "train_negatives": n_neg},
            )
        weight = (
            np.where(target == 1, labels, 1.0) if self.grade_weighted else np.ones(n_pos + n_neg)
        )
        if sample_weight is not None:
            weight = weight * _check_sample_weight(sample_weight, x)
        model = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
        model.fit(x, target, sample_weight=weight)
        self.coef_: FloatArray = np.asarray(model.coef_, dtype=np.float64).ravel()
        self.intercept_: float = float(np.asarray(model.intercept_, dtype=np.float64)[0])
        self.n_examples_: int = int(target.size)
        self.n_positive_: int = n_pos
        return self

    def decision_function(self, X: npt.ArrayLike) -> FloatArray:
        """The ranking score of each row: log-odds that the pair turns out positive."""
        check_is_fitted(self)
        x = validate_data(self, X, dtype=np.float64, reset=False)
        out: FloatArray = np.asarray(x, dtype=np.float64) @ self.coef_ + self.intercept_
        return out

    def predict(self, X: npt.ArrayLike) -> FloatArray:
        """Same as :meth:`decision_function`: a ranker predicts scores to sort by."""
        return self.decision_function(X)

    def to_scorer(self, version: str) -> LinearModelScorer:
        """The fitted model as a scorer named ``version`` (columns in FEATURE_NAMES order)."""
        check_is_fitted(self)
        if self.n_features_in_ != len(FEATURE_NAMES):
            raise ValueError(
                f"fitted on {self.n_features_in_} columns, a scorer needs {len(FEATURE_NAMES)}"
            )
        params: dict[str, Any] = self.get_params()
        return LinearModelScorer(
            version,
            dict(zip(FEATURE_NAMES, self.coef_.tolist(), strict=True)),
            self.intercept_,
            metadata={
                "model": "logistic_regression",
                "params": params,
                "n_examples": self.n_examples_,
                "n_positive": self.n_positive_,
            },
        )
