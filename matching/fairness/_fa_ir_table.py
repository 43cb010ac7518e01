"""FA*IR tables: the minimum-protected table, its multiple-testing adjustment and the exact
failure probability (Zehlike, Bonchi, Castillo, Hajian, Megahed, Baeza-Yates, "FA*IR: A Fair
Top-k Ranking Algorithm", CIKM 2017, §3-4)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy.linalg.lapack import dtrtrs
from scipy.special import bdtr, gammaln, ndtri

from matching.fairness._common import FloatArray, IntArray, _check_alpha, _check_k, _check_p

#: Largest k for which the adjusted FA*IR table is computed exactly. Beyond it the corrected
#: alpha found for this k is reused for all k positions (see :func:`fair_adjusted_table`).
FAIR_ADJUSTED_MAX_K = 2000


# Relative tolerance for a binomial CDF reaching the quantile level (see _binom_ppf).
_PPF_RTOL = 1e-12

# Rows of the triangular system solved per block in fair_failure_probability.
_SOLVE_BLOCK = 1024


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
