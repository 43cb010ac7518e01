"""scikit-learn's own estimator checks on the trainer (issue 15 item 3): the trainer follows the
estimator contract (``__init__`` stores parameters only, ``fit(X, y, sample_weight=None)``
returns ``self``, learned attributes end in ``_``) wherever a check applies to a ranker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.utils.estimator_checks import parametrize_with_checks

from matching.learning import ScorerTrainer

_ALL_RELEVANT = (
    "its y holds no label 0: every pair is relevant, so there is nothing to rank against and "
    "the trainer refuses with InsufficientData (a ranker needs relevant and irrelevant pairs); "
    "sample weights are checked in test_train.py::test_trainer_conventions instead"
)

#: Checks that do not apply to a ranking estimator, each with the reason.
NOT_APPLICABLE: dict[str, str] = {
    "check_estimators_dtypes": _ALL_RELEVANT,
    "check_sample_weights_not_an_array": _ALL_RELEVANT,
    "check_sample_weights_shape": _ALL_RELEVANT,
    "check_sample_weights_not_overwritten": _ALL_RELEVANT,
    "check_fit2d_1sample": _ALL_RELEVANT + " (one sample is one label)",
    "check_fit2d_1feature": _ALL_RELEVANT,
}


@parametrize_with_checks([ScorerTrainer()], expected_failed_checks=lambda _: NOT_APPLICABLE)
def test_sklearn_estimator_checks(estimator: ScorerTrainer, check: Callable[[Any], None]) -> None:
    check(estimator)
