"""Fair ranking: FA*IR, DetConstSort, the ranking fairness metrics, and the agency policy.

The implementation lives in private modules re-exported here, so ``from matching.fairness
import fair_rerank`` keeps working; :mod:`matching.fairness.policy` applies an agency's policy.
"""

from matching.fairness._fa_ir import *  # noqa: F403
from matching.fairness._fa_ir import __all__ as __all__
