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
    ndcg_at_k,
    rank_discount,
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
