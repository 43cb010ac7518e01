"""Learning a scorer from caseworker decisions and outcomes, and gating its activation."""

from matching.learning.estimator import *  # noqa: F403
from matching.learning.estimator import __all__ as __all__
