"""Shared pieces of the fair re-rankers: result type, input checks, the merit merge."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

G = TypeVar("G", bound=Hashable)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Tolerance for floor(i * p_g) so that e.g. 10 * 0.3 counts as 3 despite binary rounding.
_FLOOR_EPS = 1e-9


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


def _encode(labels: Sequence[G]) -> tuple[list[G], IntArray]:
    """Distinct labels in first-seen order and the code of each label."""
    names = list(dict.fromkeys(labels))
    index = {g: i for i, g in enumerate(names)}
    codes = np.fromiter(map(index.__getitem__, labels), dtype=np.int64, count=len(labels))
    return names, codes


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
