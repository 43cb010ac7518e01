"""Fair ranking: FA*IR, DetConstSort, and the ranking fairness metrics.

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
  other candidates among themselves (see :func:`_merit_merge`).
* DetConstSort: a label left out of ``targets`` but not exempt is served by the share the
  targets leave over, on the constraint's schedule (see :func:`det_const_sort_report`).
* Metrics: an unknown label is a group like any other; leave it out of ``targets`` and it falls in
  the "other" bucket of :func:`ndkl`.
* Impact ratios: LL144 audits report the number of individuals with an unknown category
  separately and leave them out of the calculation; drop them before calling.

Protected attributes are used here only to constrain and audit a ranking; they must never be
inputs to the score itself.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt
from scipy.linalg.lapack import dtrtrs
from scipy.special import bdtr, gammaln, ndtri

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

G = TypeVar("G", bound=Hashable)
C = TypeVar("C", bound=Hashable)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Largest k for which the adjusted FA*IR table is computed exactly. Beyond it the corrected
#: alpha found for this k is reused for all k positions (see :func:`fair_adjusted_table`).
FAIR_ADJUSTED_MAX_K = 2000

#: Floor applied to shares and target shares inside logarithms (Skew@k, NDKL), so that a group
#: absent from the top k gets a large but finite skew, e.g. ln(1e-6 / 0.5) = -13.1, and every
#: reported value can be stored as JSON.
SKEW_FLOOR = 1e-6

#: The four-fifths rule: an impact ratio below this is flagged.
FOUR_FIFTHS = 0.8

# Tolerance for floor(i * p_g) so that e.g. 10 * 0.3 counts as 3 despite binary rounding.
_FLOOR_EPS = 1e-9

# Relative tolerance for a binomial CDF reaching the quantile level (see _binom_ppf).
_PPF_RTOL = 1e-12

# Rows of the triangular system solved per block in fair_failure_probability.
_SOLVE_BLOCK = 1024


# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RerankResult:
    """A re-ranked list and the prefixes whose constraint could not be met.

    ``order`` holds indices into the input, best first. ``infeasible_prefixes`` holds the prefix
    lengths ``i`` (1-based) at which the top ``i`` misses a required minimum -- only possible
    when a group has too few members (or a caller-supplied table asks for the impossible).
    """

    order: list[int]
    infeasible_prefixes: list[int] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        """True when every prefix meets its constraint."""
        return not self.infeasible_prefixes


@dataclass(frozen=True)
class AdjustedTable:
    """The adjusted FA*IR table and how it was found (Zehlike et al., CIKM 2017, §4).

    Every corrected significance ``alpha_c`` in ``(alpha_c_low, alpha_c_high]`` yields
    ``mtable``; ``alpha_c`` is the midpoint of that interval (or ``alpha`` itself when the
    unadjusted table already fails with probability at most ``alpha``).
    ``failure_probability`` is the exact probability that a ranking in which every position is
    protected independently with probability ``p`` fails some prefix of ``mtable``.

    ``exact`` is False when ``k > FAIR_ADJUSTED_MAX_K``: the search is then run for
    ``FAIR_ADJUSTED_MAX_K`` positions and its ``alpha_c`` is applied to all ``k`` positions
    (a stricter table than the exact one, whose family-wise failure probability exceeds
    ``alpha`` somewhat); ``failure_probability`` is then that of the first
    ``FAIR_ADJUSTED_MAX_K`` entries, a lower bound.
    """

    mtable: tuple[int, ...]
    k: int
    p: float
    alpha: float
    alpha_c: float
    alpha_c_low: float
    alpha_c_high: float
    failure_probability: float
    exact: bool = True


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


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    return int(k)


def _check_p(p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    return p


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return alpha


def _as_scores(scores: npt.ArrayLike) -> FloatArray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {s.shape}")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return s


def _check_targets(targets: Mapping[G, float]) -> dict[G, float]:
    out: dict[G, float] = {}
    for g, v in targets.items():
        fv = float(v)
        if not 0.0 <= fv <= 1.0:
            raise ValueError(f"target share of {g!r} must lie in [0, 1], got {fv}")
        out[g] = fv
    if sum(out.values()) > 1.0 + _FLOOR_EPS:
        raise ValueError(f"target shares sum to {sum(out.values())}, more than 1")
    return out


def _floor_share(i: int, share: float) -> int:
    """floor(i * share), tolerant of binary rounding (10 * 0.3 -> 3)."""
    return math.floor(i * share + _FLOOR_EPS)


# --------------------------------------------------------------------------------------------
# FA*IR: tables and failure probability
# --------------------------------------------------------------------------------------------


def _binom_ppf(q: float, n: IntArray, p: float) -> IntArray:
    """Smallest x with P(Binomial(n, p) <= x) >= q, vectorised over n (0 < p < 1, 0 < q < 1).

    Same definition as ``scipy.stats.binom.ppf`` but much faster for long n: a normal
    (Cornish-Fisher) first guess, then each entry is moved by one until the two CDF values
    bracket q. The CDF is ``scipy.special.bdtr`` (regularised incomplete beta); a CDF within
    1e-12 (relative) below q counts as reaching it, so ties such as P(Bin(7, 0.5) <= 3) = 0.5
    or P(Bin(1, 0.9) <= 0) = 0.1 resolve as written in decimal despite binary rounding.
    """
    reach = q * (1.0 - _PPF_RTOL)
    nn = n.astype(np.float64)
    z = float(ndtri(q))
    guess = nn * p + z * np.sqrt(nn * p * (1.0 - p)) + (z * z - 1.0) * (1.0 - 2.0 * p) / 6.0
    x = np.clip(np.floor(guess + 0.5), 0, nn).astype(np.int64)
    todo = np.arange(n.size)
    while todo.size:
        xi, ni = x[todo], n[todo]
        hi_ok = bdtr(xi, ni, p) >= reach
        lo_ok = np.ones(todo.size, dtype=bool)
        pos = xi > 0
        lo_ok[pos] = bdtr(xi[pos] - 1, ni[pos], p) < reach
        x[todo] = xi + (~hi_ok).astype(np.int64) - (hi_ok & ~lo_ok).astype(np.int64)
        todo = todo[~(hi_ok & lo_ok)]
    return x


@lru_cache(maxsize=256)
def _unadjusted_cached(k: int, p: float, alpha: float) -> tuple[int, ...]:
    if k == 0 or p == 0.0:
        return (0,) * k
    if p == 1.0:
        return tuple(range(1, k + 1))
    m = _binom_ppf(alpha, np.arange(1, k + 1, dtype=np.int64), p)
    return tuple(int(v) for v in m)


def _pmf_table(k: int, p: float, width: int) -> FloatArray:
    """pmf[n, x] = P(Binomial(n, p) = x) for n <= k, x < width (0 where x > n).

    Small tables use the closed form through log-factorials (one vectorised pass); large ones
    the Pascal recurrence row by row, which is cheaper than that many ``exp`` calls.
    """
    if (k + 1) * width > 60_000:
        q = 1.0 - p
        table = np.zeros((k + 1, width), dtype=np.float64)
        table[0, 0] = 1.0
        for i in range(1, k + 1):
            np.multiply(table[i - 1], q, out=table[i])
            table[i, 1:] += p * table[i - 1, :-1]
        return table
    lf = gammaln(np.arange(k + 1, dtype=np.float64) + 1.0)
    lp, lq = math.log(p), math.log1p(-p)
    n = np.arange(k + 1, dtype=np.int64)
    x = np.arange(width, dtype=np.int64)
    row = lf + n * lq  # ln n! + n ln q
    col = lf[np.minimum(x, k)] - x * (lp - lq)  # ln x! - x ln(p / q)
    diff = n[:, None] - x[None, :]
    logv = row[:, None] - col[None, :] - lf.take(np.maximum(diff, 0))
    out: FloatArray = np.exp(logv)
    out[diff < 0] = 0.0
    return out


def _unit_lower_solve(mat: FloatArray, rhs: FloatArray) -> FloatArray:
    """Solve mat @ g = rhs, mat unit lower triangular (only its strict lower part is read).

    Calls LAPACK ``dtrtrs`` on ``mat.T`` (upper, Fortran order, transposed solve) to avoid
    both a copy and the wrapper overhead of ``scipy.linalg.solve_triangular``.
    """
    g, info = dtrtrs(mat.T, rhs, lower=0, trans=1, unitdiag=1)
    if info != 0:  # pragma: no cover - only for malformed input
        raise ValueError(f"triangular solve failed (LAPACK info {info})")
    out: FloatArray = np.asarray(g, dtype=np.float64)
    return out


def _lgamma_pmf(
    p: float, lf: FloatArray
) -> Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64]], FloatArray]:
    """Binomial pmf(x; n, p) from a log-factorial table; zero outside 0 <= x <= n."""
    lp, lq = math.log(p), math.log1p(-p)

    def pmf(n: IntArray, x: IntArray) -> FloatArray:
        valid = (x >= 0) & (x <= n)
        nn = np.where(valid, n, 0)
        xx = np.where(valid, x, 0)
        logv = lf[nn] - lf[xx] - lf[nn - xx] + xx * lp + (nn - xx) * lq
        return np.where(valid, np.exp(logv), 0.0)

    return pmf


def _first_failure_positions(mtable: IntArray) -> IntArray:
    """P[j] = first (1-based) position whose requirement exceeds j, for j < max requirement."""
    req = np.maximum.accumulate(np.maximum(mtable, 0))
    top = int(req[-1]) if req.size else 0
    return (np.searchsorted(req, np.arange(top), side="right") + 1).astype(np.int64)


def _failure_from_positions(
    pos: IntArray, pmf: Callable[[IntArray, IntArray], FloatArray]
) -> float:
    """Exact failure probability of a table given its first-failure positions.

    A ranking first fails with exactly ``j`` protected candidates only at ``pos[j]`` (the
    first position requiring more than ``j``). With ``g[j]`` that probability,

        P(count at pos[j] == j) = sum_{l <= j} g[l] * pmf(j - l; pos[j] - pos[l], p),

    a unit lower-triangular system; the failure probability is ``sum(g)``. It is solved by
    blocked forward substitution, O(R^2) for R = max requirement, without materialising more
    than ``_SOLVE_BLOCK`` rows at once.
    """
    r = pos.size
    if r == 0:
        return 0.0
    js = np.arange(r, dtype=np.int64)
    d = pmf(pos, js)
    g = np.empty(r, dtype=np.float64)
    for a in range(0, r, _SOLVE_BLOCK):
        b = min(r, a + _SOLVE_BLOCK)
        rows = js[a:b]
        n = pos[a:b, None] - pos[None, :b]
        x = rows[:, None] - js[None, :b]
        block = pmf(n, x)
        rhs = d[a:b] - block[:, :a] @ g[:a] if a else d[a:b].copy()
        g[a:b] = _unit_lower_solve(block[:, a:b], rhs)
    return float(min(1.0, max(0.0, g.sum())))


def fair_failure_probability(mtable: Sequence[int], p: float) -> float:
    """Exact probability that a fair random ranking fails some prefix of ``mtable``.

    The ranking puts a protected candidate at each position independently with probability
    ``p`` (the null model of Zehlike et al., CIKM 2017); it fails when, for some prefix ``i``,
    the number of protected candidates in the top ``i`` is below ``mtable[i - 1]``.

    Computed exactly (up to floating point) by first-failure decomposition: a unit
    lower-triangular linear system over the protected count, O(R^2) time for R = the largest
    requirement, with all work in numpy / LAPACK. (The public reference library's routine is
    inexact for some tables, e.g. k=10, p=0.5, [0,0,0,1,1,1,2,2,2,3]: it reports 0.094, the
    exact value -- by enumerating all 2^10 rankings -- is 0.111.) Entries are treated as their
    running maximum since protected counts never decrease; negative entries count as 0.
    A table for k = 1,000 takes milliseconds; cost grows with R^2 (seconds for R ~ 10^4).
    """
    p = _check_p(p)
    m = np.asarray(list(mtable), dtype=np.int64)
    if m.ndim != 1:
        raise ValueError("mtable must be one-dimensional")
    if m.size == 0:
        return 0.0
    positions = np.arange(1, m.size + 1)
    if p == 0.0:
        return 1.0 if bool((m > 0).any()) else 0.0
    if p == 1.0:
        return 1.0 if bool((m > positions).any()) else 0.0
    pos = _first_failure_positions(m)
    lf = gammaln(np.arange(m.size + 2, dtype=np.float64) + 1.0)
    return _failure_from_positions(pos, _lgamma_pmf(p, lf))


def _adjusted_search(k: int, p: float, alpha: float) -> AdjustedTable:
    """Exact adjusted table for 0 < p < 1, k >= 1 (see :func:`fair_adjusted_table`)."""
    unadjusted = np.asarray(_unadjusted_cached(k, p, alpha), dtype=np.int64)
    top = int(unadjusted[-1])
    if top == 0:
        return AdjustedTable((0,) * k, k, p, alpha, alpha, 0.0, alpha, 0.0)
    width = top + 2
    pmf = _pmf_table(k, p, width)
    # cdf[i - 1, x] = P(Binomial(i, p) <= x) for x < width - 1: every lower-tail value that
    # can lie below alpha (x < m(i) <= top).
    cdf = np.cumsum(pmf[1:, : width - 1], axis=1)
    below = cdf[cdf < alpha]
    # Table for a corrected level a: m_a(i) = #{x : cdf(i, x) < a}. It only changes when a
    # crosses one of these values, so the candidate tables are T(v) for v in `levels`.
    levels = np.append(np.unique(below), alpha)

    def table_at(level: float) -> IntArray:
        counts: IntArray = (cdf < level).sum(axis=1).astype(np.int64)
        return counts

    flat = pmf.ravel()

    def failure_of(table: IntArray) -> float:
        # Dense form of _failure_from_positions with pmf looked up in the table: entry
        # (j, l) of the lower triangle is pmf[pos_j - pos_l, j - l], at flat offset
        # key_j - key_l with key = pos * width + j (the mirrored upper triangle is ignored).
        pos = _first_failure_positions(table)
        r = pos.size
        if r == 0:
            return 0.0
        key = pos * width + np.arange(r, dtype=np.int64)
        mat = flat.take(np.abs(key[:, None] - key[None, :]))
        g = _unit_lower_solve(mat, flat.take(key))
        return float(min(1.0, max(0.0, g.sum())))

    memo: dict[int, float] = {}

    def failure_at(i: int) -> float:
        if i not in memo:
            memo[i] = failure_of(table_at(float(levels[i])))
        return memo[i]

    # Find adjacent indices lo, hi = lo + 1 with failure(lo) <= alpha < failure(hi); levels[0]
    # gives the all-zero table (nothing lies strictly below the smallest value), which never
    # fails. Probes follow a secant in (log level, log failure), starting at the unadjusted
    # table, and fall back to bisection whenever two probes fail to halve the bracket, so
    # the number of exact evaluations is at most about 2 log2(len(levels)) and usually < 10.
    last = levels.size - 1
    lo, hi = 0, levels.size
    f_lo, f_hi = 0.0, 1.0
    log_alpha = math.log(alpha)
    points: list[tuple[float, float]] = []
    widths: list[int] = []
    probe = last
    while True:
        f = failure_at(probe)
        if f <= alpha:
            lo, f_lo = probe, f
        else:
            hi, f_hi = probe, f
        if f > 0.0:
            points.append((math.log(float(levels[probe])), math.log(f)))
        if hi - lo <= 1:
            break
        widths.append(hi - lo)
        target: float | None = None
        if len(points) >= 2:
            (x1, y1), (x2, y2) = points[-2], points[-1]
            if x2 != x1 and (y2 - y1) / (x2 - x1) > 0.0:
                target = x2 + (log_alpha - y2) * (x2 - x1) / (y2 - y1)
        elif points:
            target = points[-1][0] + log_alpha - points[-1][1]
        stalled = len(widths) >= 3 and widths[-1] > widths[-3] // 2
        if target is None or stalled:
            probe = (lo + hi) // 2
        else:
            guess = int(np.searchsorted(levels, math.exp(min(target, 0.0))))
            probe = min(max(guess, lo + 1), hi - 1)
    idx = lo if hi == levels.size or abs(f_lo - alpha) <= abs(f_hi - alpha) else hi
    low = float(levels[idx - 1]) if idx > 0 else 0.0
    high = float(levels[idx])
    if idx == last:
        chosen, alpha_c = unadjusted, alpha
        f_best = failure_of(unadjusted)
    else:
        chosen, alpha_c = table_at(high), 0.5 * (low + high)
        f_best = failure_at(idx)
    table = tuple(int(v) for v in chosen)
    return AdjustedTable(table, k, p, alpha, alpha_c, low, high, f_best)


@lru_cache(maxsize=256)
def _adjusted_cached(k: int, p: float, alpha: float) -> AdjustedTable:
    if k == 0 or p in (0.0, 1.0):
        table = _unadjusted_cached(k, p, alpha)
        return AdjustedTable(table, k, p, alpha, alpha, 0.0, alpha, 0.0)
    if k <= FAIR_ADJUSTED_MAX_K:
        return _adjusted_search(k, p, alpha)
    base = _adjusted_cached(FAIR_ADJUSTED_MAX_K, p, alpha)
    table = _unadjusted_cached(k, p, base.alpha_c)
    return AdjustedTable(
        table,
        k,
        p,
        alpha,
        base.alpha_c,
        base.alpha_c_low,
        base.alpha_c_high,
        base.failure_probability,
        exact=False,
    )


def fair_adjusted_table(k: int, p: float, alpha: float) -> AdjustedTable:
    """The adjusted FA*IR table with its corrected alpha and exact failure probability.

    Zehlike et al. (CIKM 2017) run the binomial test at each of the k prefixes, so a fairly
    drawn ranking fails *some* prefix more often than ``alpha``. The adjusted table uses a
    corrected ``alpha_c <= alpha`` chosen so that the exact family-wise failure probability
    (:func:`fair_failure_probability`) is as close to ``alpha`` as the discrete tables allow.

    Tables grow monotonically with ``alpha_c`` and only change where ``alpha_c`` crosses a
    binomial lower-tail value, so the search runs over the sorted list of those values (a
    secant step in log-log space, safeguarded by bisection; about ten exact evaluations): it
    finds the two adjacent tables whose failure probabilities bracket ``alpha`` and keeps the
    closer one (on a tie, the smaller table). If even the unadjusted table fails with
    probability at most ``alpha``, it is returned with ``alpha_c = alpha``. k = 200 takes a
    few milliseconds (the reference library fairsearchcore takes over ten seconds).

    Exact for ``k <= FAIR_ADJUSTED_MAX_K``; see :class:`AdjustedTable` for larger ``k``.
    Results are cached per ``(k, p, alpha)``.
    """
    return _adjusted_cached(_check_k(k), _check_p(p), _check_alpha(alpha))


def fair_adjusted_alpha(k: int, p: float, alpha: float) -> float:
    """Corrected significance ``alpha_c`` of the adjusted table (midpoint of its interval)."""
    return fair_adjusted_table(k, p, alpha).alpha_c


def fair_mtable(k: int, p: float, alpha: float, adjusted: bool = True) -> list[int]:
    """FA*IR minimum-protected table: ``m[i - 1]`` protected candidates needed in the top ``i``.

    Unadjusted: ``m(i) = binom.ppf(alpha, i, p)``, the smallest ``x`` with
    ``P(Binomial(i, p) <= x) >= alpha`` (Zehlike et al., CIKM 2017, §3). Adjusted (default):
    the multiple-testing corrected table of :func:`fair_adjusted_table`.

    ``p`` is the target protected share in [0, 1] (0 gives an all-zero table, 1 requires every
    position), ``alpha`` the significance in (0, 1). A binomial CDF within 1e-12 (relative) of
    ``alpha`` counts as reaching it, so decimal ties resolve as written. Any ``k >= 0`` works;
    beyond ``FAIR_ADJUSTED_MAX_K`` the adjusted table reuses the corrected alpha found for
    that size (see :class:`AdjustedTable`). Tables are cached per arguments.
    """
    k, p, alpha = _check_k(k), _check_p(p), _check_alpha(alpha)
    if adjusted:
        return list(_adjusted_cached(k, p, alpha).mtable)
    return list(_unadjusted_cached(k, p, alpha))


def clear_table_cache() -> None:
    """Drop cached FA*IR tables (for benchmarks measuring cold-start cost)."""
    _unadjusted_cached.cache_clear()
    _adjusted_cached.cache_clear()


def is_fair(
    protected_in_rank_order: Sequence[bool],
    p: float,
    alpha: float,
    adjusted: bool = True,
    *,
    mtable: Sequence[int] | None = None,
) -> bool:
    """FA*IR ranked group fairness test: every prefix holds at least ``m(i)`` protected.

    The table is built for ``k = len(protected_in_rank_order)`` unless ``mtable`` is given
    (then its first ``k`` entries are used). An empty ranking is fair.
    """
    flags = np.asarray(list(protected_in_rank_order), dtype=bool)
    k = flags.size
    if k == 0:
        return True
    if mtable is None:
        m = np.asarray(fair_mtable(k, p, alpha, adjusted), dtype=np.int64)
    else:
        m = np.asarray(list(mtable)[:k], dtype=np.int64)
        if m.size < k:
            raise ValueError(f"mtable has {m.size} entries, the ranking {k}")
    return bool((np.cumsum(flags) >= m).all())


# --------------------------------------------------------------------------------------------
# FA*IR re-ranking
# --------------------------------------------------------------------------------------------


def _top_sorted(scores: FloatArray, idx: IntArray, limit: int) -> IntArray:
    """The best ``limit`` of ``idx`` (ascending indices), by score desc then index asc."""
    if limit <= 0 or idx.size == 0:
        return idx[:0]
    sub = scores[idx]
    if idx.size > 4 * limit:
        cut = np.partition(sub, idx.size - limit)[idx.size - limit]
        keep = sub >= cut  # ties at the cut may add a few extra; sorted and cut below
        idx, sub = idx[keep], sub[keep]
    order = np.argsort(-sub, kind="stable")[:limit]
    return idx[order].astype(np.int64)


def _exempt_mask(exempt: npt.ArrayLike | None, n: int) -> npt.NDArray[np.bool_]:
    if exempt is None:
        return np.zeros(n, dtype=bool)
    mask = np.asarray(exempt, dtype=bool)
    if mask.shape != (n,):
        raise ValueError(f"exempt has shape {mask.shape}, scores ({n},)")
    return mask


def _merit_merge(
    scores: FloatArray,
    free: npt.NDArray[np.bool_],
    k: int,
    rerank: Callable[[IntArray, int], RerankResult],
) -> RerankResult:
    """Re-rank the constrained candidates (``~free``) among themselves, then let every free
    candidate compete on score for every place.

    ``rerank(indices, kk)`` re-ranks the candidates ``indices`` (ascending) into ``kk`` places
    and returns positions into ``indices``. The constrained order is kept; a free candidate
    goes before the next constrained one whenever it scores higher (ties: lower index), so a
    free candidate is never placed below, or left out for, a lower-scored candidate. A prefix
    is reported infeasible when the constrained candidates in it fall short of the constraint.
    """
    n = scores.size
    kk = min(k, n)
    sub = np.flatnonzero(~free).astype(np.int64)
    inner = rerank(sub, min(kk, sub.size)) if sub.size else RerankResult([], [])
    ranked = sub[np.asarray(inner.order, dtype=np.int64)]
    best_free = _top_sorted(scores, np.flatnonzero(free).astype(np.int64), kk)
    both = np.concatenate((ranked, best_free))
    rank = np.empty(both.size, dtype=np.int64)
    rank[np.lexsort((both, -scores[both]))] = np.arange(both.size)
    # The a-th constrained candidate follows every free one that outscores some constrained
    # candidate at or above it (the running worst of their ranks).
    worst = np.maximum.accumulate(rank[: ranked.size]) if ranked.size else rank[:0]
    ahead = np.searchsorted(rank[ranked.size :], worst, side="left")
    pos = np.arange(ranked.size, dtype=np.int64) + ahead
    out = np.full(ranked.size + best_free.size, -1, dtype=np.int64)
    out[pos] = ranked
    out[out < 0] = best_free
    out = out[:kk]
    constrained_above = np.cumsum(~free[out])
    bad = np.zeros(ranked.size + 1, dtype=bool)
    bad[np.asarray(inner.infeasible_prefixes, dtype=np.int64)] = True
    infeasible = (np.flatnonzero(bad[constrained_above]) + 1).tolist()
    return RerankResult(out.tolist(), infeasible)


def fair_rerank_report(
    scores: npt.ArrayLike,
    protected: npt.ArrayLike,
    k: int,
    p: float,
    alpha: float,
    *,
    adjusted: bool = True,
    mtable: Sequence[int] | None = None,
    exempt: npt.ArrayLike | None = None,
) -> RerankResult:
    """FA*IR re-ranking (Zehlike et al., CIKM 2017, Algorithm 2) with infeasibility report.

    Walk positions ``i = 1..k``: if the protected count so far is below ``m(i)`` take the best
    remaining protected candidate, otherwise the best remaining candidate overall. Within each
    group score order is kept; ties go to the lower input index. ``scores`` need not be
    sorted. The result has ``min(k, n)`` indices.

    The table is ``fair_mtable(min(k, n), p, alpha, adjusted)`` (cached; for
    ``k > FAIR_ADJUSTED_MAX_K`` see :class:`AdjustedTable`) unless ``mtable`` is given (then
    ``p`` and ``alpha`` are ignored and its first ``min(k, n)`` entries are used, as their
    running maximum). When the protected candidates run out, the best remaining
    candidates fill the list and the failing prefixes are reported.

    Vectorised, O(n + k log k): each candidate's output position follows in closed form from
    its unconstrained rank ``r_t`` and the position ``b_t`` where the table first requires
    ``t`` protected: ``pos_t = max(pos_{t-1} + 1, min(b_t, r_t))``.

    ``exempt`` (a boolean mask, e.g. the candidates who did not consent to their protected
    data being used) takes candidates out of the constraint: the others are re-ranked among
    themselves as above (the table for their number of places), and every exempt candidate
    competes on score for every place, so none is ever placed below, or left out for, a
    lower-scored candidate. A prefix is then infeasible when the non-exempt candidates in it
    fall short of the table.
    """
    s = _as_scores(scores)
    prot = np.asarray(protected, dtype=bool)
    if prot.shape != s.shape:
        raise ValueError(f"protected has shape {prot.shape}, scores {s.shape}")
    k = _check_k(k)
    free = _exempt_mask(exempt, s.size)
    if free.any():
        return _merit_merge(
            s,
            free,
            k,
            lambda idx, kk: fair_rerank_report(
                s[idx], prot[idx], kk, p, alpha, adjusted=adjusted, mtable=mtable
            ),
        )
    n = s.size
    kk = min(k, n)
    if kk == 0:
        return RerankResult([], [])
    if mtable is None:
        m = np.asarray(fair_mtable(kk, p, alpha, adjusted), dtype=np.int64)
    else:
        m = np.asarray(list(mtable)[:kk], dtype=np.int64)
        if m.size < kk:
            raise ValueError(f"mtable has {m.size} entries, need {kk}")
    req = np.maximum.accumulate(np.maximum(m, 0))

    all_idx = np.arange(n, dtype=np.int64)
    if 4 * kk >= n:
        overall = _top_sorted(s, all_idx, n)
        prot_top = overall[prot[overall]][:kk]
        rest_top = overall[~prot[overall]][:kk]
        overall = overall[:kk]
    else:
        overall = _top_sorted(s, all_idx, kk)
        prot_top = _top_sorted(s, np.flatnonzero(prot).astype(np.int64), kk)
        rest_top = _top_sorted(s, np.flatnonzero(~prot).astype(np.int64), kk)

    t = np.arange(1, prot_top.size + 1, dtype=np.int64)
    # Unconstrained (1-based) rank of the t-th protected candidate; beyond kk it cannot matter.
    natural = kk + 1 + t
    in_top = np.flatnonzero(prot[overall]) + 1
    natural[: in_top.size] = in_top
    deadline = np.searchsorted(req, t, side="left") + 1  # kk + 1 when never required
    wanted = np.minimum(natural, deadline)
    pos = t + np.maximum.accumulate(wanted - t)

    out = np.full(kk, -1, dtype=np.int64)
    placed = pos <= kk
    out[pos[placed] - 1] = prot_top[placed]
    free = out < 0
    out[free] = rest_top[: int(free.sum())]

    counts = np.cumsum(prot[out])
    infeasible = (np.flatnonzero(counts < req) + 1).tolist()
    return RerankResult(out.tolist(), infeasible)


def fair_rerank(
    scores: npt.ArrayLike,
    protected: npt.ArrayLike,
    k: int,
    p: float,
    alpha: float,
    *,
    adjusted: bool = True,
    mtable: Sequence[int] | None = None,
    exempt: npt.ArrayLike | None = None,
) -> list[int]:
    """FA*IR re-ranking; indices into the input, best first (see :func:`fair_rerank_report`)."""
    return fair_rerank_report(
        scores, protected, k, p, alpha, adjusted=adjusted, mtable=mtable, exempt=exempt
    ).order


# --------------------------------------------------------------------------------------------
# DetConstSort
# --------------------------------------------------------------------------------------------


def _encode(labels: Sequence[G]) -> tuple[list[G], IntArray]:
    """Distinct labels in first-seen order and the code of each label."""
    names = list(dict.fromkeys(labels))
    index = {g: i for i, g in enumerate(names)}
    codes = np.fromiter(map(index.__getitem__, labels), dtype=np.int64, count=len(labels))
    return names, codes


def det_const_sort_report(
    scores: npt.ArrayLike,
    groups: Sequence[G],
    targets: Mapping[G, float],
    k: int,
    *,
    exempt: Collection[G] = (),
) -> RerankResult:
    """DetConstSort (Geyik, Ambler, Kenthapadi, KDD 2019, Algorithm 4) with infeasibility report.

    For cut-offs ``c = 1, 2, ...`` every group ``g`` is owed ``floor(c * p_g)`` places. Each
    time that floor rises the group's next candidate (within-group score order) is appended
    with a *max index* of ``c``, then moved up past lower-scored entries while every entry it
    passes can still move one place down without leaving its max index (insertion sort). When
    several groups are owed a place at the same cut-off, the one whose next candidate scores
    highest goes first. Hence, when feasible, every prefix ``i`` holds at least
    ``floor(i * p_g)`` members of every group and within-group order is kept.

    Extensions of the paper's pseudo-code, so that any input yields a full ranking:

    * the move-down test is ``max_index >= new 1-based position`` (the paper's ``>= start``
      reads one short under 0-based arrays and can break a constraint);
    * the share not covered by ``targets`` (``1 - sum(p_g)``), groups absent from ``targets``
      and the places owed to a group that has run out of members are served by the best
      remaining candidate of any group, on the same schedule;
    * prefixes where some group in ``targets`` has fewer than ``floor(i * p_g)`` members
      (because it is too small) are reported in ``infeasible_prefixes``.

    ``targets`` maps group -> share in [0, 1], shares summing to at most 1; ``floor`` allows a
    1e-9 tolerance so that e.g. ``10 * 0.3`` counts as 3. Ties go to the lower input index.

    ``exempt`` names groups taken out of the constraint (e.g. ``{"unknown"}``: candidates who
    did not consent to their protected data being used). The other candidates are re-ranked
    among themselves as above, the shares then being shares of the non-exempt candidates in
    each prefix; every exempt candidate competes on score for every place, so none is ever
    placed below, or left out for, a lower-scored candidate -- refusing consent never costs a
    place. A prefix is then infeasible when the non-exempt candidates in it fall short.
    """
    s = _as_scores(scores)
    labels = list(groups)
    if len(labels) != s.size:
        raise ValueError(f"groups has {len(labels)} entries, scores {s.size}")
    k = _check_k(k)
    tg = _check_targets(targets)
    if exempt:
        skip = set(exempt)
        free = np.fromiter((g in skip for g in labels), dtype=bool, count=len(labels))
        if free.any():
            return _merit_merge(
                s,
                free,
                k,
                lambda idx, kk: det_const_sort_report(
                    s[idx], [labels[i] for i in idx.tolist()], tg, kk
                ),
            )
    n = s.size
    kk = min(k, n)
    if kk == 0:
        return RerankResult([], [])

    names, codes = _encode(labels)
    ngroups = len(names)
    code_of = {g: i for i, g in enumerate(names)}
    share = [tg.get(g, 0.0) for g in names]
    # Places not owed to a present group (uncovered share, absent target groups) go to the best
    # remaining candidate of any group.
    rest_share = max(0.0, 1.0 - sum(share))

    # Members of each group, best first (ties: lower index), truncated to what the loop can
    # use: at most kk places plus one cut-off's worth of extra demands.
    by_group = np.argsort(codes, kind="stable").astype(np.int64)
    bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=ngroups))))
    cap = kk + ngroups + 2
    members: list[list[int]] = [
        _top_sorted(s, by_group[bounds[c] : bounds[c + 1]], cap).tolist() for c in range(ngroups)
    ]
    svals: list[float] = s.tolist()
    heads = [0] * ngroups

    # Max-heap of group heads keyed by (-score, index) to serve "any group" places.
    heap: list[tuple[float, int, int]] = [
        (-svals[mem[0]], mem[0], c) for c, mem in enumerate(members) if mem
    ]
    heapq.heapify(heap)

    def head(c: int) -> int:
        return members[c][heads[c]] if heads[c] < len(members[c]) else -1

    def take(c: int) -> int:
        idx = members[c][heads[c]]
        heads[c] += 1
        return idx

    def refresh_heap() -> None:
        while heap:
            _, idx, c = heap[0]
            if head(c) == idx:
                return
            heapq.heappop(heap)
            nxt = head(c)
            if nxt >= 0:
                heapq.heappush(heap, (-svals[nxt], nxt, c))

    ranked: list[int] = []
    rscore: list[float] = []
    maxidx: list[int] = []
    owed = [0] * ngroups
    owed_rest = 0
    constrained = [c for c in range(ngroups) if share[c] > 0.0]
    cutoff = 0
    while len(ranked) < kk:
        cutoff += 1
        demands: list[int] = []  # group code, or -1 for "best of any group"
        for c in constrained:
            f = _floor_share(cutoff, share[c])
            if f > owed[c]:
                demands.extend([c] * (f - owed[c]))
                owed[c] = f
        f_rest = _floor_share(cutoff, rest_share)
        if f_rest > owed_rest:
            demands.extend([-1] * (f_rest - owed_rest))
            owed_rest = f_rest
        while demands:
            best_key: tuple[float, int] | None = None
            best_slot = -1
            best_group = -1
            for slot, c in enumerate(demands):
                if c >= 0 and head(c) >= 0:
                    cand, grp = head(c), c
                else:
                    refresh_heap()
                    if not heap:
                        continue
                    cand, grp = heap[0][1], heap[0][2]
                key = (-svals[cand], cand)
                if best_key is None or key < best_key:
                    best_key, best_slot, best_group = key, slot, grp
            if best_key is None:  # every candidate is placed
                demands.clear()
                break
            demands.pop(best_slot)
            idx = take(best_group)
            ranked.append(idx)
            rscore.append(svals[idx])
            maxidx.append(max(cutoff, len(ranked)))
            j = len(ranked) - 1
            while j > 0 and maxidx[j - 1] >= j + 1 and rscore[j - 1] < rscore[j]:
                ranked[j - 1], ranked[j] = ranked[j], ranked[j - 1]
                rscore[j - 1], rscore[j] = rscore[j], rscore[j - 1]
                maxidx[j - 1], maxidx[j] = maxidx[j], maxidx[j - 1]
                j -= 1
        if len(ranked) >= n:
            break

    result = ranked[:kk]
    infeasible = _shortfall_prefixes(
        codes[np.asarray(result, dtype=np.int64)],
        [(code_of[g], v) for g, v in tg.items() if v > 0.0 and g in code_of],
        [v for g, v in tg.items() if v > 0.0 and g not in code_of],
    )
    return RerankResult(result, infeasible)


def _shortfall_prefixes(
    ranked_codes: IntArray,
    present: list[tuple[int, float]],
    absent_shares: list[float],
) -> list[int]:
    """Prefixes i where a target group holds fewer than floor(i * p_g) of the top i."""
    kk = ranked_codes.size
    i = np.arange(1, kk + 1, dtype=np.float64)
    bad = np.zeros(kk, dtype=bool)
    for c, share in present:
        have = np.cumsum(ranked_codes == c)
        bad |= have < np.floor(i * share + _FLOOR_EPS)
    for share in absent_shares:
        bad |= np.floor(i * share + _FLOOR_EPS) > 0
    return (np.flatnonzero(bad) + 1).tolist()


def det_const_sort(
    scores: npt.ArrayLike,
    groups: Sequence[G],
    targets: Mapping[G, float],
    k: int,
    *,
    exempt: Collection[G] = (),
) -> list[int]:
    """DetConstSort ranking; indices into the input (see :func:`det_const_sort_report`)."""
    return det_const_sort_report(scores, groups, targets, k, exempt=exempt).order


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


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
