"""FA*IR re-ranking and its fairness test (Zehlike, Bonchi, Castillo, Hajian, Megahed,
Baeza-Yates, "FA*IR: A Fair Top-k Ranking Algorithm", CIKM 2017, Algorithm 2)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from matching.fairness._common import (
    RerankResult,
    _as_scores,
    _check_k,
    _exempt_mask,
    _merit_merge,
    _top_sorted,
)
from matching.fairness._fa_ir_table import fair_mtable


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
