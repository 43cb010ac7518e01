"""Tests for matching.fairness: FA*IR tables and re-ranking, DetConstSort, metrics.

Oracles are independent of the module: brute-force enumeration of all 2^k rankings, a direct
dynamic programme over the protected count, exact rational arithmetic for the binomial
quantile, and straightforward loop implementations of the two re-rankers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping, Sequence
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import fairness as F
from matching.fairness import _fa_ir_table

PROPS = settings(max_examples=150, deadline=None)
FEW = settings(max_examples=40, deadline=None)


# --------------------------------------------------------------------------------------------
# Reference implementations (deliberately simple)
# --------------------------------------------------------------------------------------------


def brute_failure(mtable: Sequence[int], p: float) -> float:
    """Failure probability by enumerating all 2^k protected/non-protected patterns."""
    k = len(mtable)
    pats = (np.arange(2**k)[:, None] >> np.arange(k)[None, :]) & 1
    ones = pats.sum(axis=1)
    prob = p**ones * (1.0 - p) ** (k - ones)
    fails = (np.cumsum(pats, axis=1) < np.asarray(mtable)[None, :]).any(axis=1)
    return float(prob[fails].sum())


def dp_failure(mtable: Sequence[int], p: float) -> float:
    """Failure probability by a forward DP over the protected count (survivors only)."""
    k = len(mtable)
    dist = np.zeros(k + 1)
    dist[0] = 1.0
    for need in mtable:
        new = dist * (1.0 - p)
        new[1:] += dist[:-1] * p
        new[: max(0, min(need, k + 1))] = 0.0
        dist = new
    return float(1.0 - dist.sum())


def exact_ppf(alpha: float, n: int, p: float) -> int:
    """Smallest x with P(Binomial(n, p) <= x) >= alpha, in exact rational arithmetic.

    As in the module, a CDF within 1e-12 (relative) below alpha counts as a tie.
    """
    pf, af = Fraction(p), Fraction(alpha) * (1 - Fraction(1, 10**12))
    cdf = Fraction(0)
    for x in range(n + 1):
        cdf += math.comb(n, x) * pf**x * (1 - pf) ** (n - x)
        if cdf >= af:
            return x
    return n


def ref_fair_rerank(
    scores: Sequence[float], protected: Sequence[bool], k: int, mtable: Sequence[int]
) -> list[int]:
    """FA*IR greedy, position by position, with running-maximum table."""
    n = len(scores)
    order = sorted(range(n), key=lambda i: (-scores[i], i))
    prot = [i for i in order if protected[i]]
    rest = [i for i in order if not protected[i]]
    need = list(np.maximum.accumulate(np.maximum(np.asarray(mtable, dtype=int), 0)))
    out: list[int] = []
    count = pi = ri = 0
    for pos in range(min(k, n)):
        if count < need[pos] and pi < len(prot):
            out.append(prot[pi])
            pi += 1
            count += 1
            continue
        options = []
        if pi < len(prot):
            options.append((-scores[prot[pi]], prot[pi], True))
        if ri < len(rest):
            options.append((-scores[rest[ri]], rest[ri], False))
        _, idx, is_prot = min(options)
        if is_prot:
            pi += 1
            count += 1
        else:
            ri += 1
        out.append(idx)
    return out


def ref_det_const_sort(
    scores: Sequence[float], groups: Sequence[str], targets: Mapping[str, float], kmax: int
) -> list[int]:
    """Geyik et al. (KDD 2019) Algorithm 4, max-index test on the new 1-based position."""
    lists = {
        g: sorted((i for i in range(len(scores)) if groups[i] == g), key=lambda i: (-scores[i], i))
        for g in targets
    }
    counts = dict.fromkeys(targets, 0)
    mins = dict.fromkeys(targets, 0)
    ranked: list[int] = []
    rs: list[float] = []
    mx: list[int] = []
    k = 0
    while len(ranked) < kmax:
        k += 1
        tmp = {g: math.floor(k * targets[g] + 1e-9) for g in targets}
        changed = [g for g in targets if mins[g] < tmp[g]]
        changed.sort(key=lambda g: (-scores[lists[g][counts[g]]], lists[g][counts[g]]))
        for g in changed:
            i = lists[g][counts[g]]
            ranked.append(i)
            rs.append(scores[i])
            mx.append(k)
            j = len(ranked) - 1
            while j > 0 and mx[j - 1] >= j + 1 and rs[j - 1] < rs[j]:
                ranked[j - 1], ranked[j] = ranked[j], ranked[j - 1]
                rs[j - 1], rs[j] = rs[j], rs[j - 1]
                mx[j - 1], mx[j] = mx[j], mx[j - 1]
                j -= 1
            counts[g] += 1
        mins = tmp
    return ranked[:kmax]


def floor_share(i: int, share: float) -> int:
    return math.floor(i * share + 1e-9)


def assert_group_order_kept(
    order: Sequence[int], scores: Sequence[float], labels: Sequence[Hashable]
) -> None:
    """Within each group the output follows (score desc, index asc) and is the group's best."""
    for g in set(labels):
        members = sorted(
            (i for i in range(len(scores)) if labels[i] == g), key=lambda i: (-scores[i], i)
        )
        placed = [i for i in order if labels[i] == g]
        assert placed == members[: len(placed)]


def assert_is_selection(order: Sequence[int], n: int, k: int) -> None:
    assert len(order) == min(k, n)
    assert len(set(order)) == len(order)
    assert all(0 <= i < n for i in order)


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

probabilities = st.floats(min_value=0.02, max_value=0.98)
alphas = st.floats(min_value=0.01, max_value=0.3)


@st.composite
def scored_protected(draw: st.DrawFn) -> tuple[list[float], list[bool]]:
    n = draw(st.integers(min_value=1, max_value=60))
    if draw(st.booleans()):  # many ties
        scores = [float(v) for v in draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))]
    else:
        scores = draw(
            st.lists(
                st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
                min_size=n,
                max_size=n,
            )
        )
    share = draw(st.floats(0.0, 1.0))
    flags = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    return scores, [f < share for f in flags]


@st.composite
def grouped(draw: st.DrawFn) -> tuple[list[float], list[str], dict[str, float], int]:
    n = draw(st.integers(min_value=1, max_value=60))
    names = ["a", "b", "c", "d"]
    labels = draw(st.lists(st.sampled_from(names), min_size=n, max_size=n))
    if draw(st.booleans()):
        scores = [float(v) for v in draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))]
    else:
        scores = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True))
    raw = draw(st.lists(st.integers(0, 20), min_size=len(chosen), max_size=len(chosen)))
    total = max(sum(raw), 1)
    scale = 1.0 if draw(st.booleans()) else draw(st.sampled_from([0.5, 0.8, 1.0]))
    targets = {g: round(scale * r / total, 2) for g, r in zip(chosen, raw, strict=True)}
    while sum(targets.values()) > 1.0 + 1e-9:
        g = max(targets, key=lambda x: targets[x])
        targets[g] = round(targets[g] - 0.01, 2)
    k = draw(st.integers(min_value=0, max_value=70))
    return scores, labels, targets, k


# --------------------------------------------------------------------------------------------
# FA*IR tables: published values
# --------------------------------------------------------------------------------------------

PUBLISHED_UNADJUSTED = [0] * 8 + [1] * 6 + [2] * 5 + [3]
PUBLISHED_ADJUSTED = [0] * 8 + [1] * 7 + [2] * 5


def test_published_unadjusted_table() -> None:
    assert F.fair_mtable(20, 0.25, 0.1, adjusted=False) == PUBLISHED_UNADJUSTED


def test_published_adjusted_table() -> None:
    assert F.fair_mtable(20, 0.25, 0.1) == PUBLISHED_ADJUSTED
    info = F.fair_adjusted_table(20, 0.25, 0.1)
    assert list(info.mtable) == PUBLISHED_ADJUSTED
    assert info.exact
    assert round(info.failure_probability, 3) == 0.105
    assert round(F.fair_failure_probability(PUBLISHED_ADJUSTED, 0.25), 3) == 0.105
    # Any alpha_c in (low, high] gives this table; the published 0.0781 lies inside.
    assert info.alpha_c_low < 0.0781 <= info.alpha_c_high
    assert F.fair_adjusted_alpha(20, 0.25, 0.1) == pytest.approx(0.0781, abs=3e-3)
    assert info.alpha_c_low < info.alpha_c <= info.alpha_c_high <= 0.1


def test_published_failure_of_unadjusted_exceeds_alpha() -> None:
    assert F.fair_failure_probability(PUBLISHED_UNADJUSTED, 0.25) == pytest.approx(
        brute_failure(PUBLISHED_UNADJUSTED, 0.25), abs=1e-12
    )
    assert F.fair_failure_probability(PUBLISHED_UNADJUSTED, 0.25) > 0.1


def test_reference_library_counterexample() -> None:
    table = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    exact = brute_failure(table, 0.5)
    assert exact == pytest.approx(114 / 1024, abs=1e-15)
    got = F.fair_failure_probability(table, 0.5)
    assert got == pytest.approx(exact, abs=1e-12)
    assert round(got, 3) == 0.111


# --------------------------------------------------------------------------------------------
# FA*IR tables: exactness and properties
# --------------------------------------------------------------------------------------------


@PROPS
@given(
    table=st.lists(st.integers(-1, 6), min_size=1, max_size=11),
    p=st.floats(0.01, 0.99),
)
def test_failure_probability_matches_enumeration(table: list[int], p: float) -> None:
    assert F.fair_failure_probability(table, p) == pytest.approx(brute_failure(table, p), abs=1e-12)


@FEW
@given(k=st.integers(1, 300), p=probabilities, alpha=alphas, blocked=st.booleans())
def test_failure_probability_matches_dp(k: int, p: float, alpha: float, blocked: bool) -> None:
    table = F.fair_mtable(k, p, alpha, adjusted=False)
    with pytest.MonkeyPatch.context() as mp:
        if blocked:  # exercise the blocked forward substitution
            mp.setattr(_fa_ir_table, "_SOLVE_BLOCK", 7)
        got = F.fair_failure_probability(table, p)
    assert got == pytest.approx(dp_failure(table, p), abs=1e-11)


def test_failure_probability_degenerate() -> None:
    assert F.fair_failure_probability([], 0.3) == 0.0
    assert F.fair_failure_probability([0, 0, 0], 0.3) == 0.0
    assert F.fair_failure_probability([0, 3], 0.3) == pytest.approx(1.0)  # impossible prefix
    assert F.fair_failure_probability([0, 1], 0.0) == 1.0
    assert F.fair_failure_probability([1, 2], 1.0) == 0.0
    assert F.fair_failure_probability([1, 3], 1.0) == 1.0


@FEW
@given(k=st.integers(1, 25), p=probabilities, alpha=st.floats(0.001, 0.999))
def test_unadjusted_table_is_exact_binomial_quantile(k: int, p: float, alpha: float) -> None:
    assert F.fair_mtable(k, p, alpha, adjusted=False) == [
        exact_ppf(alpha, i, p) for i in range(1, k + 1)
    ]


def test_unadjusted_table_ties_resolve_as_written() -> None:
    # P(Bin(7, 0.5) <= 3) = 0.5 and P(Bin(1, 0.9) <= 0) = 0.1 exactly in decimal.
    assert F.fair_mtable(7, 0.5, 0.5, adjusted=False)[-1] == 3
    assert F.fair_mtable(1, 0.9, 0.1, adjusted=False) == [0]


@FEW
@given(k=st.integers(1, 120), p=probabilities, alpha=alphas)
def test_adjusted_table_properties(k: int, p: float, alpha: float) -> None:
    info = F.fair_adjusted_table(k, p, alpha)
    table = list(info.mtable)
    unadjusted = F.fair_mtable(k, p, alpha, adjusted=False)
    assert len(table) == k
    assert all(a <= b for a, b in zip(table, unadjusted, strict=True))
    assert all(0 <= b - a <= 1 for a, b in zip([0, *table], table, strict=False))
    assert info.failure_probability == pytest.approx(
        F.fair_failure_probability(table, p), abs=1e-11
    )
    assert 0.0 <= info.alpha_c_low < info.alpha_c <= info.alpha_c_high <= alpha


@pytest.mark.parametrize(
    ("k", "p", "alpha"),
    [(20, 0.25, 0.1), (30, 0.5, 0.1), (50, 0.3, 0.05), (60, 0.7, 0.1), (80, 0.5, 0.2)],
)
def test_adjusted_table_is_the_closer_bracket(k: int, p: float, alpha: float) -> None:
    info = F.fair_adjusted_table(k, p, alpha)
    table = list(info.mtable)
    f = F.fair_failure_probability(table, p)
    # Every level in (low, high] gives the chosen table; levels just outside give the
    # neighbouring tables (the 1e-9 margins keep clear of rounding in the CDF).
    assert F.fair_mtable(k, p, info.alpha_c, adjusted=False) == table
    smaller = F.fair_mtable(k, p, info.alpha_c_low * (1 - 1e-9), adjusted=False)
    assert smaller != table
    f_small = F.fair_failure_probability(smaller, p)
    if f > alpha:
        assert f_small <= alpha
        assert abs(f - alpha) < abs(f_small - alpha)
    elif info.alpha_c_high < alpha:
        larger = F.fair_mtable(k, p, info.alpha_c_high * (1 + 1e-9), adjusted=False)
        f_large = F.fair_failure_probability(larger, p)
        assert f_large > alpha
        assert abs(f - alpha) <= abs(f_large - alpha)


def test_adjusted_alpha_decreases_with_k() -> None:
    a = [F.fair_adjusted_alpha(k, 0.5, 0.1) for k in (20, 100, 400)]
    assert a[0] > a[1] > a[2]


def test_tables_edge_cases() -> None:
    assert F.fair_mtable(0, 0.5, 0.1) == []
    assert F.fair_mtable(5, 0.0, 0.1) == [0] * 5
    assert F.fair_mtable(5, 1.0, 0.1) == [1, 2, 3, 4, 5]
    assert F.fair_mtable(5, 1.0, 0.1, adjusted=False) == [1, 2, 3, 4, 5]
    assert F.fair_mtable(3, 0.5, 0.1) == [0, 0, 0]
    with pytest.raises(ValueError):
        F.fair_mtable(5, 1.5, 0.1)
    with pytest.raises(ValueError):
        F.fair_mtable(5, 0.5, 0.0)
    with pytest.raises(ValueError):
        F.fair_mtable(-1, 0.5, 0.1)


def test_large_k_uses_capped_adjustment() -> None:
    k = F.FAIR_ADJUSTED_MAX_K + 1500
    info = F.fair_adjusted_table(k, 0.1, 0.1)
    base = F.fair_adjusted_table(F.FAIR_ADJUSTED_MAX_K, 0.1, 0.1)
    assert not info.exact and base.exact
    assert len(info.mtable) == k
    assert info.mtable[: F.FAIR_ADJUSTED_MAX_K] == base.mtable
    assert all(b - a in (0, 1) for a, b in zip(info.mtable, info.mtable[1:], strict=False))
    assert info.alpha_c == base.alpha_c


def test_tables_are_cached_and_cache_clears() -> None:
    first = F.fair_adjusted_table(150, 0.4, 0.1)
    assert F.fair_adjusted_table(150, 0.4, 0.1) is first
    F.clear_table_cache()
    again = F.fair_adjusted_table(150, 0.4, 0.1)
    assert again is not first and again == first


def test_is_fair() -> None:
    # Adjusted table for k=20, p=0.25 needs one protected by position 9, two by 16.
    ok = [False] * 20
    ok[8] = ok[15] = True
    assert F.is_fair(ok, 0.25, 0.1)
    late = [False] * 20
    late[9] = late[15] = True
    assert not F.is_fair(late, 0.25, 0.1)
    # The unadjusted table also needs three by position 20.
    assert not F.is_fair(ok, 0.25, 0.1, adjusted=False)
    assert F.is_fair([], 0.5, 0.1)
    assert F.is_fair([False, True], 0.5, 0.1, mtable=[0, 1, 2])
    assert not F.is_fair([False, False], 0.5, 0.1, mtable=[0, 1])


# --------------------------------------------------------------------------------------------
# FA*IR re-ranking
# --------------------------------------------------------------------------------------------


def test_fair_rerank_published_example() -> None:
    scores = list(range(30, 0, -1))  # index 0 best
    protected = [False] * 25 + [True] * 5
    order = F.fair_rerank(scores, protected, 20, 0.25, 0.1)
    flags = [protected[i] for i in order]
    assert [i + 1 for i, f in enumerate(flags) if f] == [9, 16]
    assert [i for i in order if protected[i]] == [25, 26]
    assert [i for i in order if not protected[i]] == list(range(18))
    result = F.fair_rerank_report(scores, protected, 20, 0.25, 0.1, adjusted=False)
    assert [i + 1 for i, i_ in enumerate(result.order) if protected[i_]] == [9, 15, 20]
    assert result.feasible


def test_fair_rerank_reports_infeasible_prefixes() -> None:
    scores = [float(10 - i) for i in range(10)]
    protected = [i == 9 for i in range(10)]
    table = [0, 1, 1, 2, 2, 2, 3, 3, 3, 3]
    result = F.fair_rerank_report(scores, protected, 10, 0.5, 0.1, mtable=table)
    assert result.order == [0, 9, 1, 2, 3, 4, 5, 6, 7, 8]
    assert result.infeasible_prefixes == [4, 5, 6, 7, 8, 9, 10]
    assert not result.feasible
    assert F.fair_rerank(scores, protected, 10, 0.5, 0.1, mtable=table) == result.order


def test_fair_rerank_unsorted_input_and_ties() -> None:
    scores = [0.2, 0.9, 0.5, 0.9, 0.1, 0.5]
    protected = [True, False, True, False, True, False]
    order = F.fair_rerank(scores, protected, 6, 0.5, 0.1, mtable=[0, 1, 1, 2, 2, 3])
    assert order == ref_fair_rerank(scores, protected, 6, [0, 1, 1, 2, 2, 3])
    assert order == [1, 2, 3, 0, 5, 4]


def test_fair_rerank_validates_input() -> None:
    with pytest.raises(ValueError):
        F.fair_rerank([1.0, float("nan")], [True, False], 2, 0.5, 0.1)
    with pytest.raises(ValueError):
        F.fair_rerank([1.0, 2.0], [True], 2, 0.5, 0.1)
    with pytest.raises(ValueError):
        F.fair_rerank([1.0, 2.0], [True, False], 2, 0.5, 0.1, mtable=[0])
    assert F.fair_rerank([], [], 5, 0.5, 0.1) == []
    assert F.fair_rerank([1.0, 2.0], [True, False], 0, 0.5, 0.1) == []


@PROPS
@given(data=scored_protected(), k=st.integers(0, 70), p=probabilities, alpha=alphas)
def test_fair_rerank_properties(
    data: tuple[list[float], list[bool]], k: int, p: float, alpha: float
) -> None:
    scores, protected = data
    n = len(scores)
    kk = min(k, n)
    result = F.fair_rerank_report(scores, protected, k, p, alpha)
    order = result.order
    assert_is_selection(order, n, k)
    assert_group_order_kept(order, scores, protected)
    table = F.fair_mtable(kk, p, alpha) if kk else []
    assert order == ref_fair_rerank(scores, protected, k, table)
    counts = np.cumsum([protected[i] for i in order])
    short = [i + 1 for i in range(kk) if counts[i] < table[i]]
    assert result.infeasible_prefixes == short
    if kk and sum(protected) >= table[-1]:  # feasible: every prefix meets the table
        assert result.feasible
        assert F.is_fair([protected[i] for i in order], p, alpha)
    elif kk:
        assert not result.feasible
    natural = sorted(range(n), key=lambda i: (-scores[i], i))[:kk]
    if kk and F.is_fair([protected[i] for i in natural], p, alpha):
        assert order == natural  # already fair -> unchanged


@PROPS
@given(
    data=scored_protected(),
    k=st.integers(1, 70),
    table=st.lists(st.integers(0, 5), min_size=70, max_size=70),
)
def test_fair_rerank_any_table_matches_reference(
    data: tuple[list[float], list[bool]], k: int, table: list[int]
) -> None:
    scores, protected = data
    got = F.fair_rerank(scores, protected, k, 0.5, 0.1, mtable=table)
    assert got == ref_fair_rerank(scores, protected, k, table[: min(k, len(scores))])


def test_fair_rerank_already_fair_sorted_input_unchanged() -> None:
    n = 200
    scores = np.linspace(1.0, 0.0, n)
    protected = np.arange(n) % 2 == 1  # alternating, always fair for p = 0.5
    for k in (1, 10, 100, 200):
        assert F.fair_rerank(scores, protected, k, 0.5, 0.1) == list(range(k))


def test_fair_rerank_large_inputs() -> None:
    rng = np.random.default_rng(7)
    n = 100_000
    scores = rng.random(n)
    protected = rng.random(n) < 0.2
    for k in (1000, n):
        result = F.fair_rerank_report(scores, protected, k, 0.3, 0.1)
        assert len(result.order) == k
        assert len(set(result.order)) == k
    small = F.fair_rerank(scores, protected, 1000, 0.3, 0.1)
    assert F.is_fair(protected[small].tolist(), 0.3, 0.1)
    # Partition-based selection (k << n) agrees with the full sort on a subsample.
    sub = np.arange(0, n, 97)
    idx = F.fair_rerank(scores[sub], protected[sub], 50, 0.3, 0.1)
    assert idx == ref_fair_rerank(
        scores[sub].tolist(), protected[sub].tolist(), 50, F.fair_mtable(50, 0.3, 0.1)
    )


# --------------------------------------------------------------------------------------------
# DetConstSort
# --------------------------------------------------------------------------------------------


def test_det_const_sort_hand_example() -> None:
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    groups = ["a", "a", "a", "a", "a", "b", "b", "b"]
    order = F.det_const_sort(scores, groups, {"a": 0.5, "b": 0.5}, 6)
    assert order == ref_det_const_sort(scores, groups, {"a": 0.5, "b": 0.5}, 6)
    labels = [groups[i] for i in order]
    for i in range(1, 7):
        assert labels[:i].count("b") >= i // 2
    assert order == [0, 5, 1, 6, 2, 7]


def test_det_const_sort_reports_small_group() -> None:
    scores = [float(20 - i) for i in range(20)]
    groups = ["a"] * 19 + ["b"]
    result = F.det_const_sort_report(scores, groups, {"a": 0.5, "b": 0.5}, 10)
    assert len(result.order) == 10 and len(set(result.order)) == 10
    assert 19 in result.order[:2]
    assert result.infeasible_prefixes == list(range(4, 11))
    assert not result.feasible


def test_det_const_sort_absent_target_group_and_unknowns() -> None:
    scores = [0.9, 0.1, 0.8, 0.7, 0.6]
    groups = ["a", "unknown", "a", "b", "b"]
    result = F.det_const_sort_report(scores, groups, {"a": 0.4, "b": 0.4, "c": 0.2}, 5)
    assert sorted(result.order) == [0, 1, 2, 3, 4]
    assert result.infeasible_prefixes == [5]  # c is owed floor(5 * 0.2) = 1 and has no one
    assert result.order[-1] == 1  # the unconstrained low scorer comes last


def test_det_const_sort_validates() -> None:
    with pytest.raises(ValueError):
        F.det_const_sort([1.0, 2.0], ["a", "b"], {"a": 0.7, "b": 0.7}, 2)
    with pytest.raises(ValueError):
        F.det_const_sort([1.0, 2.0], ["a"], {"a": 0.5}, 2)
    with pytest.raises(ValueError):
        F.det_const_sort([1.0, 2.0], ["a", "b"], {"a": -0.1}, 2)
    assert F.det_const_sort([], [], {"a": 1.0}, 3) == []


@PROPS
@given(data=grouped())
def test_det_const_sort_properties(
    data: tuple[list[float], list[str], dict[str, float], int],
) -> None:
    scores, labels, targets, k = data
    n = len(scores)
    kk = min(k, n)
    result = F.det_const_sort_report(scores, labels, targets, k)
    order = result.order
    assert_is_selection(order, n, k)
    assert_group_order_kept(order, scores, labels)
    ranked = [labels[i] for i in order]
    short = []
    for i in range(1, kk + 1):
        if any(ranked[:i].count(g) < floor_share(i, v) for g, v in targets.items()):
            short.append(i)
    assert result.infeasible_prefixes == short
    for g, v in targets.items():
        if labels.count(g) >= floor_share(kk, v):  # feasible for g: met at every prefix
            assert all(ranked[:i].count(g) >= floor_share(i, v) for i in range(1, kk + 1))


@st.composite
def feasible_grouped(draw: st.DrawFn) -> tuple[list[float], list[str], dict[str, float], int]:
    """Targets summing to 1 over every label present, each group large enough."""
    names = ["a", "b", "c"][: draw(st.integers(1, 3))]
    weights = draw(st.lists(st.integers(1, 9), min_size=len(names), max_size=len(names)))
    total = sum(weights)
    targets = {g: w / total for g, w in zip(names, weights, strict=True)}
    k = draw(st.integers(1, 40))
    labels: list[str] = []
    for g, v in targets.items():
        labels += [g] * (floor_share(k + len(names) + 1, v) + 1 + draw(st.integers(0, 5)))
    labels = draw(st.permutations(labels))
    n = len(labels)
    if draw(st.booleans()):
        scores = [float(v) for v in draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))]
    else:
        scores = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    return scores, labels, targets, k


@PROPS
@given(data=feasible_grouped())
def test_det_const_sort_matches_paper_when_feasible(
    data: tuple[list[float], list[str], dict[str, float], int],
) -> None:
    scores, labels, targets, k = data
    result = F.det_const_sort_report(scores, labels, targets, k)
    assert result.order == ref_det_const_sort(scores, labels, targets, min(k, len(scores)))
    assert result.feasible


def test_det_const_sort_large_input() -> None:
    rng = np.random.default_rng(3)
    n = 100_000
    scores = rng.random(n)
    labels = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]).tolist()
    targets = {"a": 0.4, "b": 0.4, "c": 0.2}
    order = F.det_const_sort(scores, labels, targets, 1000)
    ranked = [labels[i] for i in order]
    assert len(order) == 1000
    assert_group_order_kept(order[:50], scores.tolist(), labels)
    counts = {g: np.cumsum([r == g for r in ranked]) for g in targets}
    for g, v in targets.items():
        need = np.floor(np.arange(1, 1001) * v + 1e-9)
        assert (counts[g] >= need).all()


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def test_skew_hand_values() -> None:
    ranking = ["a", "a", "b", "a"]
    assert F.skew_at_k(ranking, "a", 0.5, 4) == pytest.approx(math.log(1.5))
    assert F.skew_at_k(ranking, "b", 0.5, 4) == pytest.approx(math.log(0.5))
    assert F.skew_at_k(ranking, "a", 0.5, 2) == pytest.approx(math.log(2.0))
    assert F.skew_at_k(ranking, "c", 0.2, 4) == pytest.approx(math.log(F.SKEW_FLOOR / 0.2))
    assert F.skew_at_k(ranking, "a", 0.5, 100) == pytest.approx(math.log(1.5))
    assert F.skew_at_k([], "a", 0.5, 3) == 0.0
    assert F.min_max_skew(ranking, {"a": 0.5, "b": 0.5}, 4) == pytest.approx(
        (math.log(0.5), math.log(1.5))
    )
    assert F.min_max_skew(ranking, {"a": 0.0}, 4) == (0.0, 0.0)
    with pytest.raises(ValueError):
        F.skew_at_k(ranking, "a", 0.5, 0)


def test_ndkl_hand_values() -> None:
    expected = math.log(2.0) / (1.0 + 1.0 / math.log2(3.0))
    assert F.ndkl(["a", "b"], {"a": 0.5, "b": 0.5}) == pytest.approx(expected)
    assert F.ndkl(["a", "a", "a"], {"a": 1.0}) == pytest.approx(0.0)
    assert F.ndkl([], {"a": 1.0}) == 0.0
    # Unlisted groups fall in "other" with target 1 - sum(targets).
    assert F.ndkl(["x", "a"], {"a": 0.5}) == pytest.approx(expected)
    # Cut at k.
    assert F.ndkl(["a", "b", "b", "b"], {"a": 0.5, "b": 0.5}, k=2) == pytest.approx(expected)
    # Interleaved beats grouped.
    interleaved = ["a", "b"] * 10
    grouped_ = ["a"] * 10 + ["b"] * 10
    targets = {"a": 0.5, "b": 0.5}
    assert F.ndkl(interleaved, targets) < F.ndkl(grouped_, targets)
    # A group with target 0 that appears gives a large but finite value.
    assert math.isfinite(F.ndkl(["z"], {"a": 1.0}))


def test_exposure_hand_values() -> None:
    v2 = 1.0 / math.log2(3.0)
    exp = F.exposure_by_group(["a", "b", "a"])
    assert exp == pytest.approx({"a": 0.75, "b": v2})
    assert list(exp) == ["a", "b"]
    assert F.exposure_ratio(exp) == pytest.approx(v2 / 0.75)
    cut = F.exposure_by_group(["a", "b", "a"], k=2)
    assert cut == pytest.approx({"a": 0.5, "b": v2})
    assert F.exposure_ratio({"a": 1.0}) == 1.0
    assert F.exposure_ratio({"a": 0.0, "b": 0.0}) == 1.0
    assert F.exposure_by_group([]) == {}
    per_rel = F.exposure_per_relevance(["a", "b", "a"], [1.0, 0.5, 0.5])
    assert per_rel == pytest.approx({"a": 0.75 / 0.75, "b": v2 / 0.5})
    assert F.exposure_per_relevance(["a", "b"], [1.0, 0.0]) == pytest.approx({"a": 1.0})
    assert F.position_weights(3, 2) == pytest.approx([1.0, v2, 0.0])


def test_impact_ratios_hand_values() -> None:
    res = F.impact_ratios({"m": 50, "f": 30, "x": 1}, {"m": 100, "f": 100, "x": 3})
    assert res.rates == pytest.approx({"m": 0.5, "f": 0.3})
    assert res.ratios == pytest.approx({"m": 1.0, "f": 0.6})
    assert res.highest_rate == pytest.approx(0.5)
    assert res.excluded == {"x": 3}  # 3 / 203 < 2 %
    assert res.excluded_rates == pytest.approx({"x": 1 / 3})
    assert res.excluded_count == 1 and res.excluded_individuals == 3
    assert res.flagged == ["f"]
    json.dumps(res.as_dict(), allow_nan=False)
    kept = F.impact_ratios({"m": 50, "f": 30, "x": 1}, {"m": 100, "f": 100, "x": 3}, 0.0)
    assert kept.ratios["x"] == pytest.approx((1 / 3) / 0.5)
    assert kept.excluded == {}


def test_impact_ratios_edge_cases() -> None:
    none = F.impact_ratios({"a": 0, "b": 0}, {"a": 10, "b": 10})
    assert none.ratios == {"a": None, "b": None}
    assert none.flagged == []
    empty = F.impact_ratios({}, {"a": 0, "b": 10})
    assert empty.excluded == {"a": 0} and empty.excluded_rates == {"a": None}
    assert empty.ratios == {"b": None}
    inter = F.impact_ratios(
        {("f", "50+"): 2, ("m", "<50"): 8}, {("f", "50+"): 10, ("m", "<50"): 10}
    )
    assert inter.ratios[("f", "50+")] == pytest.approx(0.25)
    assert inter.as_dict()["flagged"] == ["('f', '50+')"]
    with pytest.raises(ValueError):
        F.impact_ratios({"a": 5}, {"a": 3})
    with pytest.raises(ValueError):
        F.impact_ratios({"z": 1}, {"a": 3})


def test_scoring_rate_impact_ratios() -> None:
    scores = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 3.5, 3.5]
    cats = ["a", "a", "a", "b", "b", "b", "a", "b"]
    res = F.scoring_rate_impact_ratios(scores, cats, 0.0)
    # median 3.5; strictly above: 4, 5, 6 (all b)
    assert res.selected == {"a": 0, "b": 3}
    assert res.rates == pytest.approx({"a": 0.0, "b": 0.75})
    assert res.ratios == pytest.approx({"a": 0.0, "b": 1.0})
    assert res.flagged == ["a"]
    assert F.scoring_rate_impact_ratios([], []).ratios == {}


def test_fairness_report_is_json_safe() -> None:
    ranking = ["a", "a", "a", "a", "b", "a", "unknown"]
    targets = {"a": 0.5, "b": 0.3, "c": 0.2}
    report = F.fairness_report(ranking, targets, 4)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert report["k"] == 4 and report["n"] == 7
    skew = report["skew"]
    assert isinstance(skew, dict)
    assert skew["a"] == pytest.approx(math.log(2.0))
    assert skew["c"] == pytest.approx(math.log(F.SKEW_FLOOR / 0.2))
    assert report["min_skew"] == pytest.approx(math.log(F.SKEW_FLOOR / 0.3))
    assert report["max_skew"] == pytest.approx(math.log(2.0))
    exposure = report["exposure"]
    assert isinstance(exposure, dict)
    assert exposure["b"] == 0.0 and exposure["unknown"] == 0.0
    assert report["exposure_ratio"] == 0.0
    share = report["share"]
    assert isinstance(share, dict)
    assert share == pytest.approx({"a": 1.0, "b": 0.0, "c": 0.0, "unknown": 0.0})
    assert report["ndkl"] == pytest.approx(F.ndkl(ranking[:4], targets))


def test_fairness_report_improves_after_rerank() -> None:
    rng = np.random.default_rng(11)
    n = 300
    groups = np.where(rng.random(n) < 0.3, "p", "q")
    scores = rng.random(n) + np.where(groups == "p", -0.3, 0.0)  # biased scores
    natural = np.argsort(-scores, kind="stable")
    targets = {"p": 0.3, "q": 0.7}
    before = F.fairness_report(groups[natural].tolist(), targets, 50)
    order = F.fair_rerank(scores, groups == "p", 50, 0.3, 0.1)
    after = F.fairness_report(groups[order].tolist(), targets, 50)
    assert isinstance(before["ndkl"], float) and isinstance(after["ndkl"], float)
    assert after["ndkl"] < before["ndkl"]
    assert isinstance(before["min_skew"], float) and isinstance(after["min_skew"], float)
    assert after["min_skew"] > before["min_skew"]
