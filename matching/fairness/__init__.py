"""Fair ranking: FA*IR, DetConstSort, and the ranking fairness metrics.

Every public name is re-exported here from private modules: ``_fa_ir_table`` (FA*IR tables and
failure probability), ``_fa_ir`` (FA*IR re-ranking, :func:`is_fair`), ``_det_const_sort``,
``_metrics`` (skew, NDKL, exposure, impact ratios, :func:`fairness_report`) and ``_common``
(:class:`RerankResult`, input checks, the merit merge behind ``exempt``).
:mod:`matching.fairness.policy` applies an agency's fairness policy to one scored list.

Pure numpy / scipy: no web, database or settings imports. Every re-ranker is a function of
``(scores, groups, constraint) -> permutation`` (indices into the input, best first).

References
----------
* Zehlike, Bonchi, Castillo, Hajian, Megahed, Baeza-Yates, "FA*IR: A Fair Top-k Ranking
  Algorithm", CIKM 2017 -- the minimum-protected table ``m(i) = binom.ppf(alpha, i, p)``, the
  multiple-testing adjustment of alpha, and the greedy re-ranker (:func:`fair_mtable`,
  :func:`fair_failure_probability`, :func:`fair_rerank`, :func:`is_fair`).
* Geyik, Ambler, Kenthapadi, "Fairness-Aware Ranking in Search & Recommendation Systems with
  Application to LinkedIn Talent Search", KDD 2019 -- DetConstSort and the Skew@k, MinSkew@k,
  MaxSkew@k and NDKL metrics (:func:`det_const_sort`, :func:`skew_at_k`, :func:`min_max_skew`,
  :func:`ndkl`).
* Singh, Joachims, "Fairness of Exposure in Rankings", KDD 2018 -- position weights
  ``v_j = 1 / log2(1 + j)`` and group exposure (:func:`exposure_by_group`).
* New York City Local Law 144 of 2021 and the DCWP rules, 6 RCNY §5-300 et seq. -- selection
  rate and scoring rate impact ratios, the optional exclusion of categories under 2 % of the
  data (:func:`impact_ratios`, :func:`scoring_rate_impact_ratios`).

Groups
------
Group labels may be any hashable value (strings, ints, tuples for intersections such as
``("female", "50+")``). Handling an *unknown* group is the caller's decision, made before calling
this module, for example:

* FA*IR is binary: an unknown attribute is never guessed; pass such candidates as ``exempt``
  (``protected=False`` alone would let the protected quota push them down).
* Both re-rankers take an ``exempt`` argument: candidates it names (for example everyone in the
  group ``unknown``) are left out of the constraint and compete on score for every place, so
  refusing consent never costs anyone a place; the constraint then governs the order of the
  other candidates among themselves (see ``_common._merit_merge``).
* DetConstSort: a label left out of ``targets`` but not exempt is served by the share the
  targets leave over, on the constraint's schedule (see :func:`det_const_sort_report`).
* Metrics: an unknown label is a group like any other; leave it out of ``targets`` and it falls in
  the "other" bucket of :func:`ndkl`.
* Impact ratios: LL144 audits report the number of individuals with an unknown category
  separately and leave them out of the calculation; drop them before calling.

Protected attributes are used here only to constrain and audit a ranking; they must never be
inputs to the score itself.
"""

from matching.fairness._common import RerankResult
from matching.fairness._det_const_sort import det_const_sort, det_const_sort_report
from matching.fairness._fa_ir import fair_rerank, fair_rerank_report, is_fair
from matching.fairness._fa_ir_table import (
    FAIR_ADJUSTED_MAX_K,
    AdjustedTable,
    clear_table_cache,
    fair_adjusted_alpha,
    fair_adjusted_table,
    fair_failure_probability,
    fair_mtable,
)
from matching.fairness._metrics import (
    FOUR_FIFTHS,
    SKEW_FLOOR,
    ImpactRatioResult,
    exposure_by_group,
    exposure_per_relevance,
    exposure_ratio,
    fairness_report,
    impact_ratios,
    min_max_skew,
    ndkl,
    position_weights,
    scoring_rate_impact_ratios,
    skew_at_k,
)

__all__ = [
    "FAIR_ADJUSTED_MAX_K",
    "FOUR_FIFTHS",
    "SKEW_FLOOR",
    "AdjustedTable",
    "ImpactRatioResult",
    "RerankResult",
    "clear_table_cache",
    "det_const_sort",
    "det_const_sort_report",
    "exposure_by_group",
    "exposure_per_relevance",
    "exposure_ratio",
    "fair_adjusted_alpha",
    "fair_adjusted_table",
    "fair_failure_probability",
    "fair_mtable",
    "fair_rerank",
    "fair_rerank_report",
    "fairness_report",
    "impact_ratios",
    "is_fair",
    "min_max_skew",
    "ndkl",
    "position_weights",
    "scoring_rate_impact_ratios",
    "skew_at_k",
]
