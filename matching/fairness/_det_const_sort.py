"""DetConstSort (Geyik, Ambler, Kenthapadi, "Fairness-Aware Ranking in Search & Recommendation
Systems with Application to LinkedIn Talent Search", KDD 2019, Algorithm 4)."""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from matching.fairness._common import (
    _FLOOR_EPS,
    G,
    IntArray,
    RerankResult,
    _as_scores,
    _check_k,
    _check_targets,
    _encode,
    _floor_share,
    _merit_merge,
    _top_sorted,
)


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
