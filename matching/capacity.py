"""Capacity-aware matching: congestion prices by entropic optimal transport, the re-ranking of a
seeker's list with them, and the exposure metrics of a market.

A recommender that sends every seeker to the same few attractive postings congests them. The
French public employment service measured this on its own recommender and spread
recommendations by optimal transport over the matching matrix (Bied, Naya, Perez, Aubert,
Ghanem, Crépon, Paris, Lemaire, "Toward job recommendation for all", IJCAI 2023). Mashayekhi,
Kang, Lijffijt, De Bie, "ReCon: Reducing Congestion in Job Recommendation using Optimal
Transport", RecSys 2023, defined Congestion@k and Coverage@k and traded them against relevance
with an entropic optimal-transport term (Sinkhorn). What follows is written from the
mathematics of those papers; no code of theirs is used.

The market: seekers i, each with a sparse candidate set of postings j and a utility u_ij (the
service's score, 0 to 1). Each seeker spreads a unit of attention over their candidates; each
posting can absorb at most c_j (proportional to its openings). The entropic problem

    max_π  Σ π_ij u_ij − ε Σ π_ij (log π_ij − 1)
    s.t.   Σ_j π_ij = 1 for each seeker,   Σ_i π_ij ≤ c_j for each posting

has the solution π_ij = exp((u_ij − α_i − λ_j) / ε) for dual variables α (one per seeker) and
λ ≥ 0 (one per posting). λ_j is the posting's **congestion price**: how much utility a seeker
must give up for the posting to stay within its capacity. Block coordinate ascent on the dual
is Sinkhorn's algorithm with an inequality on one side: the seeker step normalises each row
(a softmax over the candidate set), the posting step sets λ_j ← max(0, λ_j + ε log(load_j/c_j)),
the Bregman (KL) projection onto {load_j ≤ c_j}.

Capacity prices alone only cut the postings past their capacity; they do not spread what
seekers see over the rest of the market (exposure stays concentrated below the caps). The
`balanced` method therefore adds **spread prices** (`spread_prices`): a price per posting that
maximises the seekers' rank-discounted relevance minus a multiple of the Gini coefficient of
the exposure the lists actually give, computed on those lists (see that function). Serving
subtracts min(price, floor) from the score: the relevance floor bounds what any item, and so
any rank of the list, gives up (see `capacity_rerank`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Entropic temperature in score units: how much a seeker's attention spreads over candidates
#: of nearly equal score. Small values approach the unregularised (greedy) assignment.
DEFAULT_EPSILON = 0.03
#: A price never exceeds this (the whole score scale): a posting nobody can be moved away from
#: (its seekers have no other candidate) would otherwise see its price grow without bound.
MAX_PRICE = 1.0
#: Scores equal to this many decimals are a tie, broken toward fewer applications.
TIE_DECIMALS = 6


@dataclass(frozen=True)
class Market:
    """Seekers' candidate sets in compressed sparse rows: seeker i's candidates are
    ``postings[offsets[i]:offsets[i + 1]]`` with utilities ``utilities[...]`` (same slice).
    Every seeker has at least one candidate."""

    offsets: IntArray
    postings: IntArray
    utilities: FloatArray
    n_postings: int

    @property
    def n_seekers(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_lists(
        cls, candidates: Sequence[Sequence[tuple[int, float]]], n_postings: int
    ) -> Market:
        """From per-seeker lists of (posting index, utility); seekers without candidates are
        left out (they take no capacity)."""
        kept = [c for c in candidates if len(c) > 0]
        lengths = np.array([len(c) for c in kept], dtype=np.int64)
        offsets = np.zeros(len(kept) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        postings = np.fromiter((j for c in kept for j, _ in c), dtype=np.int64, count=offsets[-1])
        utilities = np.fromiter(
            (u for c in kept for _, u in c), dtype=np.float64, count=offsets[-1]
        )
        return cls(offsets, postings, utilities, n_postings)

    def __post_init__(self) -> None:
        if len(self.offsets) < 1 or self.offsets[0] != 0:
            raise ValueError("offsets must start at 0")
        if np.any(np.diff(self.offsets) <= 0):
            raise ValueError("every seeker needs at least one candidate")
        if len(self.postings) != self.offsets[-1] or len(self.utilities) != self.offsets[-1]:
            raise ValueError("postings and utilities must have offsets[-1] entries")
        if len(self.postings) and (
            self.postings.min() < 0 or self.postings.max() >= self.n_postings
        ):
            raise ValueError("posting index out of range")


@dataclass(frozen=True)
class Prices:
    """Congestion prices per posting (≥ 0, score units) and what they achieve."""

    prices: FloatArray
    load: FloatArray  # expected attention per posting under the entropic plan
    capacities: FloatArray
    iterations: int
    max_overload: float  # max over postings of (load − capacity) / capacity, ≥ 0
    converged: bool


def capacities_from_openings(
    openings: Sequence[int] | IntArray, total_mass: float, *, headroom: float = 1.5
) -> FloatArray:
    """Each posting's capacity: its share of all openings times the market's attention, times
    `headroom` (> 1 leaves room: a posting is priced only when it draws more than `headroom`
    times its fair share), and never less than `headroom` times its openings: with fewer
    seekers than openings no posting is congested by drawing one seeker per opening (else the
    capacities could not hold the market's attention and every price would hit its ceiling)."""
    o = np.maximum(np.asarray(openings, dtype=np.float64), 1.0)
    if headroom <= 0:
        raise ValueError("headroom must be positive")
    return np.asarray(headroom * np.maximum(total_mass * o / o.sum(), o), dtype=np.float64)


def _plan(market: Market, prices: FloatArray, epsilon: float) -> FloatArray:
    """The seeker step: each seeker's unit of attention as a softmax of (u − λ)/ε."""
    z = (market.utilities - prices[market.postings]) / epsilon
    starts = market.offsets[:-1]
    lengths = np.diff(market.offsets)
    row_max = np.maximum.reduceat(z, starts)
    e = np.exp(z - np.repeat(row_max, lengths))
    row_sum = np.add.reduceat(e, starts)
    return np.asarray(e / np.repeat(row_sum, lengths), dtype=np.float64)


def _load(market: Market, plan: FloatArray) -> FloatArray:
    return np.bincount(market.postings, weights=plan, minlength=market.n_postings).astype(
        np.float64
    )


def congestion_prices(
    market: Market,
    capacities: FloatArray,
    *,
    epsilon: float = DEFAULT_EPSILON,
    max_iterations: int = 500,
    tolerance: float = 0.02,
    initial: FloatArray | None = None,
    max_price: float = MAX_PRICE,
) -> Prices:
    """Congestion prices by Sinkhorn iterations on the dual of the entropic, capacity-
    constrained transport problem (module docstring). `initial` warm-starts from earlier
    prices. Stops when no posting is overloaded by more than `tolerance` (relative) and no
    price moved by more than `tolerance × epsilon`, or after `max_iterations`."""
    if epsilon <= 0:
        raise ValueError("epsilon must be positive")
    caps = np.asarray(capacities, dtype=np.float64)
    if caps.shape != (market.n_postings,) or np.any(caps <= 0):
        raise ValueError("one positive capacity per posting")
    prices = (
        np.zeros(market.n_postings, dtype=np.float64)
        if initial is None
        else np.clip(np.asarray(initial, dtype=np.float64), 0.0, max_price)
    )
    converged = False
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported below
        plan = _plan(market, prices, epsilon)
        load = _load(market, plan)
        with np.errstate(divide="ignore"):
            step = epsilon * np.log(load / caps)  # -inf where nobody looks: price falls to 0
        updated = np.clip(prices + step, 0.0, max_price)
        moved = float(np.max(np.abs(updated - prices))) if len(prices) else 0.0
        prices = updated
        overload = float(np.max((load - caps) / caps)) if len(caps) else 0.0
        if overload <= tolerance and moved <= tolerance * epsilon:
            converged = True
            break
    load = _load(market, _plan(market, prices, epsilon))
    over = float(np.max((load - caps) / caps)) if len(caps) else 0.0
    return Prices(prices, load, caps, iterations, max(0.0, over), converged)


@dataclass(frozen=True)
class SpreadPrices:
    """Spread prices per posting (in [0, scale], score units) and the exposure of the lists
    they induce (each seeker's top `list_length` by score minus price), against the plain
    lists of the same candidates."""

    prices: FloatArray
    exposure_plain: FloatArray
    exposure: FloatArray
    rounds: int

    @property
    def gini_plain(self) -> float:
        return gini(self.exposure_plain)

    @property
    def gini(self) -> float:
        return gini(self.exposure)


def _reachable(market: Market, list_length: int, scale: float) -> Market:
    """The candidates that can enter a seeker's top `list_length` when every price lies in
    [0, scale]: a candidate more than `scale` below the seeker's `list_length`-th best utility
    never does. Dropping the others changes no induced list and makes each round cheaper."""
    lengths = np.diff(market.offsets)
    row = np.repeat(np.arange(market.n_seekers), lengths)
    # utilities sorted best first within each seeker (seeker index as the major key)
    order = np.lexsort((-market.utilities, row))
    position = np.minimum(lengths, list_length) - 1
    kth = market.utilities[order[market.offsets[:-1] + position]]
    keep = market.utilities >= np.repeat(kth, lengths) - scale - 1e-12
    kept_lengths = np.add.reduceat(keep.astype(np.int64), market.offsets[:-1])
    offsets = np.zeros(market.n_seekers + 1, dtype=np.int64)
    np.cumsum(kept_lengths, out=offsets[1:])
    return Market(offsets, market.postings[keep], market.utilities[keep], market.n_postings)


def induced_exposure(market: Market, penalties: FloatArray, list_length: int) -> FloatArray:
    """Rank-discounted exposure per posting when each seeker is shown their top `list_length`
    candidates by utility minus the posting's penalty (ties by candidate order)."""
    lengths = np.diff(market.offsets)
    row = np.repeat(np.arange(market.n_seekers, dtype=np.float64), lengths)
    adjusted = market.utilities - penalties[market.postings]
    # one sort for all seekers: seeker index as the major key, best adjusted score first
    span = float(np.ptp(adjusted)) + 1.0 if len(adjusted) else 1.0
    key = row * (2.0 * span) + (float(adjusted.max(initial=0.0)) - adjusted)
    order = np.argsort(key, kind="stable")
    position = np.arange(len(order)) - np.repeat(market.offsets[:-1], lengths)
    shown = position < list_length
    discounts = 1.0 / np.log2(position[shown] + 2.0)
    return np.bincount(
        market.postings[order[shown]], weights=discounts, minlength=market.n_postings
    ).astype(np.float64)


def _mid_ranks(values: FloatArray) -> FloatArray:
    """Each value's rank among all (0 = smallest, n − 1 = largest), tied values sharing the
    mean of their ranks."""
    n = len(values)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], n]
    mean_rank = (starts + ends - 1) / 2.0
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def spread_prices(
    market: Market,
    *,
    scale: float,
    list_length: int = 10,
    rounds: int = 30,
    floor_prices: FloatArray | None = None,
) -> SpreadPrices:
    """Prices that spread the exposure of seekers' lists over the postings, at most `scale`
    (the relevance floor: the most a price may take off a score).

    The problem, with E_j(L) the rank-discounted exposure posting j gets from lists L (each
    seeker's top `list_length`, rank r weighing 1/log2(r+1)) and U(L) the seekers' discounted
    utility:  max_L U(L) − μ·G(E(L)),  G the Gini coefficient. The total exposure is fixed, so
    G(E) is, up to a constant factor, Σ_r (2r − n − 1)·E_(r) over the values sorted ascending:
    the largest of Σ_j w_j E_j over the permutations w of those weights, a convex function
    (the support function of the permutahedron P). Over randomised lists (the convex hull,
    where max and min may be exchanged), max_L min_{w∈P} U(L) − μ w·E(L) = min_{w∈P} Φ(μw),
    where Φ(λ) = max_L U(L) − λ·E(L) is solved seeker by seeker: sort the candidates by
    u_ij − λ_j (rearrangement), i.e. the service's own re-ranking with λ as prices. Φ is
    convex with −E(L(λ)) as a subgradient, so we minimise it over P by Frank–Wolfe: the
    linear step over the permutahedron is a sort (the largest weight to the posting with the
    largest exposure), and the prices move toward that vertex with step 2/(t+2). Weights are
    shifted to start at 0 and scaled so the vertex prices run from 0 (least exposed) to
    `scale` (most exposed): μ is chosen as the largest price scale the floor allows. This is
    the generalised-Gini ranking approach of Do and Usunier, "Optimizing generalized Gini
    indices for fairness in rankings", SIGIR 2022 (Frank–Wolfe whose oracle is a sort),
    applied to postings' exposure as Bied et al. (IJCAI 2023) and Mashayekhi et al. (RecSys
    2023) measure congestion; written from the mathematics, no code of theirs is used.

    `floor_prices` (e.g. the capacity prices of `congestion_prices`) are a lower bound, a
    plain combination outside the derivation above: a posting over its capacity keeps at
    least its congestion price. Prices are the final iterate (a weighted average of the
    vertices, so stable from one rebalance to the next); the lists they induce are what
    `exposure` reports."""
    if scale < 0:
        raise ValueError("scale must be ≥ 0")
    if list_length < 1 or rounds < 0:
        raise ValueError("list_length must be ≥ 1 and rounds ≥ 0")
    n = market.n_postings
    base = (
        np.zeros(n, dtype=np.float64)
        if floor_prices is None
        else np.clip(np.asarray(floor_prices, dtype=np.float64), 0.0, scale)
    )
    if base.shape != (n,):
        raise ValueError("one floor price per posting")
    reachable = _reachable(market, list_length, scale)
    exposure_plain = induced_exposure(reachable, np.zeros(n, dtype=np.float64), list_length)
    weights = np.zeros(n, dtype=np.float64)
    exposure = exposure_plain
    for t in range(rounds):
        vertex = scale * _mid_ranks(exposure) / max(n - 1, 1)
        step = 2.0 / (t + 2.0)
        weights = (1.0 - step) * weights + step * vertex
        exposure = induced_exposure(
            reachable, np.minimum(np.maximum(weights, base), scale), list_length
        )
    prices = np.minimum(np.maximum(weights, base), scale)  # rounding of the averages
    if rounds == 0:
        exposure = induced_exposure(reachable, prices, list_length)
    return SpreadPrices(prices, exposure_plain, exposure, rounds)


@dataclass(frozen=True)
class CapacityRerank:
    """A seeker's candidates re-ordered for capacity: `order` (indices into the input, best
    first, without `excluded`), the penalty subtracted from each input's score, and the mean
    score given up over the first `k` ranks against the plain order of the same candidates."""

    order: list[int]
    penalties: list[float]
    excluded: list[int]
    relevance_given_up: float
    lowered: list[int]  # shown at a later rank than in the plain order of the eligible ones


def capacity_rerank(
    scores: Sequence[float],
    *,
    prices: Sequence[float],
    applications: Sequence[int],
    excluded: Sequence[bool],
    relevance_floor: float,
    k: int,
) -> CapacityRerank:
    """Order candidates by score minus min(price, floor), ties (to TIE_DECIMALS) toward fewer
    applications, then by the input order; `excluded` ones (past a hard cap) are left out.
    Penalties are reported from the cheapest eligible candidate's (the same order); `lowered`
    are the items the penalties moved to a later rank than the plain order's (ties there also
    toward fewer applications), the ones whose explanation says so.

    The floor bounds the loss at every rank: if the plain order's r-th score is t_r, the r-th
    score shown is at least t_r − floor (one of the plain top r sits at rank ≥ r, so the r-th
    item's adjusted score is at least that item's, ≥ t_r − floor)."""
    n = len(scores)
    if not (len(prices) == len(applications) == len(excluded) == n):
        raise ValueError("scores, prices, applications and excluded must align")
    if relevance_floor < 0:
        raise ValueError("relevance_floor must be ≥ 0")
    bounded = [min(max(float(p), 0.0), relevance_floor) for p in prices]
    eligible = [i for i in range(n) if not excluded[i]]
    # only differences of prices order a list: measured from the cheapest eligible candidate,
    # an item is "lowered" only against the others, and the order is the same
    cheapest = min((bounded[i] for i in eligible), default=0.0)
    penalties = [max(0.0, b - cheapest) for b in bounded]
    order = sorted(
        eligible,
        key=lambda i: (-round(scores[i] - penalties[i], TIE_DECIMALS), applications[i], i),
    )
    plain_rank = {
        i: r for r, i in enumerate(sorted(eligible, key=lambda i: (-scores[i], applications[i], i)))
    }
    plain = sorted((scores[i] for i in eligible), reverse=True)[:k]
    shown = [scores[i] for i in order[:k]]
    given_up = sum(p - s for p, s in zip(plain, shown, strict=True)) / len(plain) if plain else 0.0
    return CapacityRerank(
        order=order,
        penalties=penalties,
        excluded=[i for i in range(n) if excluded[i]],
        relevance_given_up=max(0.0, given_up),
        lowered=[i for r, i in enumerate(order) if r > plain_rank[i] and penalties[i] > 0],
    )


def rank_discount(rank: int) -> float:
    """Exposure of rank `rank` (1-based): 1 / log2(rank + 1), as in DCG."""
    return 1.0 / math.log2(rank + 1)


def gini(values: Sequence[float] | FloatArray) -> float:
    """Gini coefficient of non-negative values: 0 = all equal, → 1 = all on one. Zeros count
    (never-recommended postings are part of the market)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    total = float(x.sum())
    if n == 0 or total <= 0:
        return 0.0
    index = np.arange(1, n + 1, dtype=np.float64)
    return max(0.0, float(np.sum((2 * index - n - 1) * x) / (n * total)))  # rounding


def congestion_at_k(appearances: Sequence[float] | FloatArray, n_active: int) -> float:
    """Congestion@k (Mashayekhi et al., RecSys 2023): Σ_j s_j log s_j / log N over the N active
    postings, s_j the share of top-k slots that posting j takes. −1 = perfectly even, 0 = every
    slot on one posting. `appearances` counts top-k appearances per posting."""
    counts = np.asarray(appearances, dtype=np.float64)
    total = float(counts.sum())
    if n_active <= 1 or total <= 0:
        return 0.0
    shares = counts[counts > 0] / total
    return float(np.sum(shares * np.log(shares)) / math.log(n_active))


def coverage_at_k(appearances: Sequence[float] | FloatArray, n_active: int) -> float:
    """Coverage@k: the share of the N active postings in at least one top-k list."""
    if n_active <= 0:
        return 0.0
    return float(np.count_nonzero(np.asarray(appearances, dtype=np.float64) > 0) / n_active)


def ndcg_at_k(shown_gains: Sequence[float], all_gains: Sequence[float], k: int) -> float:
    """nDCG@k of a list whose items have `shown_gains` (in shown order), against the ideal
    order of `all_gains` (every candidate's gain, e.g. its unconstrained score)."""
    ideal = sorted(all_gains, reverse=True)[:k]
    idcg = sum(g * rank_discount(r) for r, g in enumerate(ideal, start=1))
    if idcg <= 0:
        return 1.0
    dcg = sum(g * rank_discount(r) for r, g in enumerate(shown_gains[:k], start=1))
    return dcg / idcg
