"""Congestion prices, the capacity re-ranking and the market metrics (pure)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.capacity import (
    Market,
    capacities_from_openings,
    capacity_rerank,
    congestion_at_k,
    congestion_prices,
    coverage_at_k,
    gini,
    induced_exposure,
    ndcg_at_k,
    rank_discount,
    spread_prices,
)


def _skewed_market(n_seekers: int, n_postings: int, k: int, seed: int) -> Market:
    """Every seeker prefers the first postings a little (a popularity skew)."""
    rng = np.random.default_rng(seed)
    lists = []
    for _ in range(n_seekers):
        chosen = rng.choice(n_postings, size=k, replace=False)
        lists.append([(int(j), 0.9 - 0.3 * j / n_postings + 0.02 * rng.random()) for j in chosen])
    return Market.from_lists(lists, n_postings)


def test_prices_fall_on_the_popular_postings_and_capacity_holds() -> None:
    market = _skewed_market(400, 40, 12, seed=1)
    caps = capacities_from_openings([1] * 40, market.n_seekers, headroom=1.2)
    plain = congestion_prices(market, caps, max_iterations=1)
    assert plain.load.max() > caps.max() * 1.5  # without prices the first postings are crowded
    result = congestion_prices(market, caps)
    assert result.converged and result.max_overload <= 0.02
    assert np.all(result.load <= caps * 1.02)
    assert np.all(result.prices >= 0)
    # the postings everyone scores highest carry the highest prices, the least liked none
    assert result.prices[:5].min() > result.prices[-5:].max()
    assert np.all(result.prices[-5:] == 0)
    assert gini(result.load) < gini(plain.load)


def test_uncongested_market_has_zero_prices() -> None:
    market = Market.from_lists([[(0, 0.5), (1, 0.4)], [(1, 0.6), (2, 0.3)]], 3)
    result = congestion_prices(market, np.array([10.0, 10.0, 10.0]))
    assert result.converged and np.all(result.prices == 0)


def test_warm_start_converges_at_once() -> None:
    market = _skewed_market(200, 30, 8, seed=2)
    caps = capacities_from_openings(np.arange(1, 31), market.n_seekers)
    first = congestion_prices(market, caps)
    again = congestion_prices(market, caps, initial=first.prices)
    assert again.iterations <= 2 and np.allclose(again.prices, first.prices, atol=0.01)


def test_few_seekers_among_many_postings_leave_prices_at_zero() -> None:
    """3 seekers, 1,000 postings: the fair share of attention is far below one seeker per
    opening, so capacities are the openings themselves and nothing is congested."""
    market = Market.from_lists([[(j, 0.5 + 0.01 * j) for j in range(5)]] * 3, 1000)
    caps = capacities_from_openings([1] * 1000, 3.0, headroom=1.5)
    assert np.all(caps == 1.5)
    result = congestion_prices(market, caps)
    assert result.converged and result.max_overload == 0.0 and np.all(result.prices == 0)


def test_market_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one candidate"):
        Market(np.array([0, 0]), np.array([], dtype=np.int64), np.array([]), 1)
    with pytest.raises(ValueError, match="out of range"):
        Market.from_lists([[(3, 0.5)]], 2)
    market = Market.from_lists([[(0, 0.5)]], 1)
    with pytest.raises(ValueError, match="positive capacity"):
        congestion_prices(market, np.array([0.0]))
    with pytest.raises(ValueError, match="epsilon"):
        congestion_prices(market, np.array([1.0]), epsilon=0)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 30),
    st.integers(2, 12),
    st.floats(1.0, 3.0),
    st.floats(0.01, 0.2),
    st.integers(0, 10_000),
)
def test_prices_never_negative_and_capacity_respected(
    n_seekers: int, n_postings: int, headroom: float, epsilon: float, seed: int
) -> None:
    """Every seeker may take every posting, and capacities sum to at least the attention:
    a feasible market, so the loads end within tolerance of the capacities."""
    rng = np.random.default_rng(seed)
    lists = [[(j, float(rng.random())) for j in range(n_postings)] for _ in range(n_seekers)]
    market = Market.from_lists(lists, n_postings)
    openings = rng.integers(1, 5, size=n_postings)
    caps = capacities_from_openings(openings, n_seekers, headroom=headroom)
    result = congestion_prices(market, caps, epsilon=epsilon, max_iterations=3000)
    assert np.all(result.prices >= 0) and np.all(result.prices <= 1.0)
    assert math.isclose(float(result.load.sum()), n_seekers, rel_tol=1e-9)
    assert result.max_overload <= 0.03, result
    # complementary slackness: a posting below capacity carries (almost) no price
    slack = result.load < caps * 0.9
    assert np.all(result.prices[slack] <= 0.05 * epsilon + 1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1), st.floats(0, 2), st.integers(0, 50), st.booleans()),
        min_size=1,
        max_size=30,
    ),
    st.floats(0, 0.5),
    st.integers(1, 10),
)
def test_rerank_never_gives_up_more_than_the_floor_at_any_rank(
    rows: list[tuple[float, float, int, bool]], floor: float, k: int
) -> None:
    scores = [r[0] for r in rows]
    out = capacity_rerank(
        scores,
        prices=[r[1] for r in rows],
        applications=[r[2] for r in rows],
        excluded=[r[3] for r in rows],
        relevance_floor=floor,
        k=k,
    )
    eligible = [i for i, r in enumerate(rows) if not r[3]]
    assert sorted(out.order) == eligible and set(out.excluded).isdisjoint(out.order)
    # lowered = moved to a later rank than in the plain order, by a penalty; nothing else
    plain_order = sorted(eligible, key=lambda i: (-scores[i], rows[i][2], i))
    moved_down = [
        i for r, i in enumerate(out.order) if r > plain_order.index(i) and out.penalties[i] > 0
    ]
    assert out.lowered == moved_down
    plain = sorted((scores[i] for i in eligible), reverse=True)
    for rank, i in enumerate(out.order):
        assert scores[i] >= plain[rank] - floor - 1e-6
    assert 0 <= out.relevance_given_up <= floor + 1e-6
    assert all(0 <= p <= floor for p in out.penalties)


def test_rerank_ties_go_to_fewer_applications_and_price_moves_down() -> None:
    out = capacity_rerank(
        [0.8, 0.8, 0.8, 0.7],
        prices=[0.0, 0.0, 0.0, 0.0],
        applications=[9, 2, 5, 0],
        excluded=[False, False, False, False],
        relevance_floor=0.1,
        k=4,
    )
    assert out.order == [1, 2, 0, 3]
    priced = capacity_rerank(
        [0.8, 0.75, 0.5],
        prices=[0.3, 0.0, 0.0],
        applications=[0, 0, 0],
        excluded=[False, False, False],
        relevance_floor=0.1,
        k=1,
    )
    # the price is bounded by the floor: 0.8 − 0.1 = 0.7 is below 0.75, above 0.5
    assert priced.order == [1, 0, 2] and priced.penalties == [0.1, 0.0, 0.0]
    assert math.isclose(priced.relevance_given_up, 0.8 - 0.75)  # the top slot's loss


def test_metrics_match_their_definitions() -> None:
    assert gini([1, 1, 1, 1]) == 0.0
    assert math.isclose(gini([0, 0, 0, 4]), 0.75)  # (n − 1) / n for all on one
    assert gini([]) == 0.0 and gini([0, 0]) == 0.0
    assert math.isclose(congestion_at_k([5, 5, 5, 5], 4), -1.0)
    assert congestion_at_k([20, 0, 0, 0], 4) == 0.0
    # two of four postings share the slots: (2 × ½ log ½) / log 4 = −½
    assert math.isclose(congestion_at_k([3, 3, 0, 0], 4), -0.5)
    assert coverage_at_k([3, 3, 0, 0], 4) == 0.5 and coverage_at_k([], 0) == 0.0
    assert math.isclose(rank_discount(1), 1.0) and math.isclose(rank_discount(3), 0.5)
    assert ndcg_at_k([0.9, 0.5], [0.5, 0.9, 0.1], 2) == 1.0
    swapped = (0.5 + 0.9 / math.log2(3)) / (0.9 + 0.5 / math.log2(3))
    assert math.isclose(ndcg_at_k([0.5, 0.9], [0.5, 0.9, 0.1], 2), swapped)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=1, max_size=50))
def test_gini_is_bounded_and_scale_free(values: list[float]) -> None:
    g = gini(values)
    assert 0 <= g < 1
    assert math.isclose(gini([v * 3 for v in values]), g, abs_tol=1e-9)


def _lists_by_brute_force(market: Market, penalties: np.ndarray, k: int) -> np.ndarray:
    exposure = np.zeros(market.n_postings)
    for i in range(market.n_seekers):
        lo, hi = market.offsets[i], market.offsets[i + 1]
        adjusted = market.utilities[lo:hi] - penalties[market.postings[lo:hi]]
        for rank, c in enumerate(sorted(range(hi - lo), key=lambda c: (-adjusted[c], c))[:k]):
            exposure[market.postings[lo + c]] += rank_discount(rank + 1)
    return exposure


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(2, 15), st.integers(1, 6), st.integers(0, 10_000))
def test_induced_exposure_is_each_seekers_top_k_by_price_adjusted_score(
    n_seekers: int, n_postings: int, k: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    lists = [
        [
            (int(j), float(rng.random()))
            for j in rng.choice(
                n_postings, size=int(rng.integers(1, n_postings + 1)), replace=False
            )
        ]
        for _ in range(n_seekers)
    ]
    market = Market.from_lists(lists, n_postings)
    penalties = rng.random(n_postings) * 0.3
    got = induced_exposure(market, penalties, k)
    assert np.allclose(got, _lists_by_brute_force(market, penalties, k))
    shown = sum(min(k, len(c)) for c in lists)
    assert (
        math.isclose(
            float(got.sum()),
            sum(rank_discount(r) for c in lists for r in range(1, min(k, len(c)) + 1)),
        )
        and shown > 0
    )


def _mean_ndcg(market: Market, penalties: np.ndarray, k: int) -> float:
    total = 0.0
    for i in range(market.n_seekers):
        lo, hi = market.offsets[i], market.offsets[i + 1]
        u = market.utilities[lo:hi]
        order = sorted(
            range(hi - lo), key=lambda c: (-(u[c] - penalties[market.postings[lo + c]]), c)
        )
        total += ndcg_at_k([u[c] for c in order[:k]], list(u), k)
    return total / market.n_seekers


def test_spread_prices_even_out_exposure_within_the_scale() -> None:
    market = _skewed_market(300, 60, 20, seed=4)
    result = spread_prices(market, scale=0.3, list_length=5)
    assert np.all(result.prices >= 0) and np.all(result.prices <= 0.3)
    # the exposure reported is what the prices induce, and spreads it: Gini falls, more
    # postings are shown, the total stays the same (every list keeps 5 items)
    assert np.allclose(result.exposure, induced_exposure(market, result.prices, 5))
    assert np.allclose(result.exposure_plain, induced_exposure(market, np.zeros(60), 5))
    assert result.gini < result.gini_plain - 0.2
    assert np.count_nonzero(result.exposure) > np.count_nonzero(result.exposure_plain)
    assert math.isclose(float(result.exposure.sum()), float(result.exposure_plain.sum()))
    # the postings shown most without prices pay the most
    most = np.argsort(result.exposure_plain)[-5:]
    least = np.argsort(result.exposure_plain)[:5]
    assert result.prices[most].min() > result.prices[least].max()
    # a larger scale spreads more and costs more relevance; the plain lists lose none
    wider = spread_prices(market, scale=0.4, list_length=5)
    assert wider.gini <= result.gini
    plain_ndcg = _mean_ndcg(market, np.zeros(60), 5)
    assert plain_ndcg == 1.0
    assert _mean_ndcg(market, wider.prices, 5) < _mean_ndcg(market, result.prices, 5) < 1.0


def test_spread_prices_keep_capacity_prices_as_a_floor_and_scale_zero_changes_nothing() -> None:
    market = _skewed_market(200, 30, 10, seed=5)
    capacity = np.linspace(0.3, 0.0, 30)
    result = spread_prices(market, scale=0.15, floor_prices=capacity)
    assert np.all(result.prices >= np.minimum(capacity, 0.15))
    assert np.all(result.prices <= 0.15)
    none = spread_prices(market, scale=0.0)
    assert np.all(none.prices == 0) and np.allclose(none.exposure, none.exposure_plain)
    with pytest.raises(ValueError, match="scale"):
        spread_prices(market, scale=-0.1)
    with pytest.raises(ValueError, match="floor price"):
        spread_prices(market, scale=0.1, floor_prices=np.zeros(3))


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 20), st.integers(3, 15), st.floats(0.0, 0.5), st.integers(0, 10_000))
def test_spread_prices_never_cost_a_seeker_more_than_the_scale(
    n_seekers: int, n_postings: int, scale: float, seed: int
) -> None:
    """Served through capacity_rerank with the scale as the floor, no rank of any seeker's
    list falls more than the floor below the plain list's."""
    rng = np.random.default_rng(seed)
    lists = [[(j, float(rng.random())) for j in range(n_postings)] for _ in range(n_seekers)]
    market = Market.from_lists(lists, n_postings)
    result = spread_prices(market, scale=scale, list_length=3, rounds=10)
    assert np.all((result.prices >= 0) & (result.prices <= scale + 1e-12))
    for row in lists:
        scores = [u for _, u in row]
        out = capacity_rerank(
            scores,
            prices=[float(result.prices[j]) for j, _ in row],
            applications=[0] * len(row),
            excluded=[False] * len(row),
            relevance_floor=scale,
            k=3,
        )
        plain = sorted(scores, reverse=True)
        assert all(scores[i] >= plain[r] - scale - 1e-9 for r, i in enumerate(out.order))


def test_penalties_are_measured_from_the_cheapest_candidate_and_keep_the_order() -> None:
    """Spread prices lower nearly every posting a little; only the differences order a list,
    so an item is reported lowered only by what it pays above the cheapest candidate."""
    out = capacity_rerank(
        [0.8, 0.78, 0.7],
        prices=[0.25, 0.2, 0.3],
        applications=[0, 0, 0],
        excluded=[False, False, False],
        relevance_floor=0.5,
        k=3,
    )
    assert out.order == [1, 0, 2]  # 0.8 − 0.25 < 0.78 − 0.2
    assert [round(p, 9) for p in out.penalties] == [0.05, 0.0, 0.1]
    # only the first moved down; the third pays most but stays where score put it
    assert out.lowered == [0]
