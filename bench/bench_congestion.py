"""Benchmark capacity-aware matching on a synthetic skewed job market: plain ranking against
congestion prices (matching.capacity) in the same run.

Run from the repository root:

    python bench/bench_congestion.py   # 20k seekers x 5k postings; prices alone at 50k x 10k
    python bench/bench_congestion.py --seekers 100000 --postings 20000

The market is generated here from the seed generator's ESCO occupations (seed/generate.py):
each posting has an occupation, a region, openings drawn like the seed generator's, and an
attractiveness with a heavy tail (pay, employer: what every seeker likes); each seeker has an
occupation (common occupations more common) and a region. Retrieval gives each seeker the K
postings that fit best (occupation, region, a personal term), as the service's vector search
does; the score adds the posting's attractiveness, which is what makes plain ranking crowd the
same postings. Applications so far are simulated from the plain lists (seekers apply to what
they are shown first), so that some postings are past the hard cap.

Plain: each seeker's top 10 by score. Capacity-aware: the service's steps, in the same order
(service/capacity): congestion prices from every seeker's candidates (capacities from
openings), postings past the hard cap left out, the price subtracted within the relevance
floor, ties toward fewer applications. Reported: Gini of rank-discounted exposure over all
postings, share never recommended, Congestion@10, Coverage@10, mean nDCG@10 graded by the
unconstrained scores (ratio to plain), the largest loss at any rank against the floor, lists
with a posting past its cap, and times.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from matching.capacity import (  # noqa: E402
    DEFAULT_EPSILON,
    Market,
    capacities_from_openings,
    capacity_rerank,
    congestion_at_k,
    congestion_prices,
    coverage_at_k,
    gini,
    ndcg_at_k,
    rank_discount,
    spread_prices,
)
from seed.generate import load_esco_subset  # noqa: E402

K_LIST = 10
REGIONS = 20
ATTRACTIVENESS = float(os.environ.get("BENCH_ATTRACTIVENESS", "0.6"))
OPENINGS = (np.array([1, 2, 3, 4, 5]), np.array([55, 20, 12, 7, 6]) / 100)  # as seed/generate.py


@dataclass
class SyntheticMarket:
    candidates: np.ndarray  # (seekers, K) posting indices
    scores: np.ndarray  # (seekers, K) unconstrained scores
    openings: np.ndarray  # (postings,)
    n_postings: int


def make_market(n_seekers: int, n_postings: int, k: int, seed: int) -> SyntheticMarket:
    rng = np.random.default_rng(seed)
    occupations = load_esco_subset()["occupations"]
    sectors = sorted({o["sector"] for o in occupations})
    occ_sector = np.array([sectors.index(o["sector"]) for o in occupations])
    occ_minor = np.array([int(o["isco08"][:3]) for o in occupations])
    n_occ = len(occupations)
    # common occupations are common on both sides (a Zipf-like share)
    weight = 1.0 / np.arange(1, n_occ + 1) ** 0.7
    weight = rng.permutation(weight) / weight.sum()
    p_occ = rng.choice(n_occ, size=n_postings, p=weight)
    p_region = rng.integers(0, REGIONS, size=n_postings)
    # attractiveness: heavy-tailed, on a 0..1 scale (its rank percentile, cubed)
    raw = rng.lognormal(0.0, 1.0, size=n_postings)
    attractive = (np.argsort(np.argsort(raw)) / max(n_postings - 1, 1)) ** 3
    openings = rng.choice(OPENINGS[0], size=n_postings, p=OPENINGS[1])
    s_occ = rng.choice(n_occ, size=n_seekers, p=weight)
    s_region = rng.integers(0, REGIONS, size=n_seekers)
    by_sector = [np.flatnonzero(occ_sector[p_occ] == s) for s in range(len(sectors))]
    candidates = np.empty((n_seekers, k), dtype=np.int64)
    scores = np.empty((n_seekers, k), dtype=np.float64)
    for i in range(n_seekers):
        pool = by_sector[occ_sector[s_occ[i]]]
        same_occ = p_occ[pool] == s_occ[i]
        same_minor = occ_minor[p_occ[pool]] == occ_minor[s_occ[i]]
        occ_fit = np.where(same_occ, 1.0, np.where(same_minor, 0.5, 0.25))
        fit = 0.45 * occ_fit + 0.2 * (p_region[pool] == s_region[i]) + 0.15 * rng.random(len(pool))
        take = min(k, len(pool))
        top = np.argpartition(-fit, take - 1)[:take]
        chosen = pool[top]
        candidates[i, :take] = chosen
        # on the service's 0..1 scale
        scores[i, :take] = (fit[top] + ATTRACTIVENESS * attractive[chosen]) / (0.8 + ATTRACTIVENESS)
        if take < k:  # a tiny sector: repeat its best (never in this catalogue's sizes)
            candidates[i, take:] = chosen[0]
            scores[i, take:] = scores[i, 0]
    return SyntheticMarket(candidates, scores, openings, n_postings)


def as_market(m: SyntheticMarket) -> Market:
    n, k = m.candidates.shape
    return Market(
        np.arange(0, n * k + 1, k, dtype=np.int64),
        m.candidates.reshape(-1).copy(),
        m.scores.reshape(-1).copy(),
        m.n_postings,
    )


def plain_lists(m: SyntheticMarket) -> np.ndarray:
    order = np.argsort(-m.scores, axis=1, kind="stable")[:, :K_LIST]
    return np.take_along_axis(m.candidates, order, axis=1)


def simulate_applications(lists: np.ndarray, n_postings: int, seed: int) -> np.ndarray:
    """Seekers apply to what they are shown first: 50 % to their first, 25 % to their second,
    10 % to their third posting."""
    rng = np.random.default_rng(seed + 1)
    applications = np.zeros(n_postings, dtype=np.int64)
    for rank, p in enumerate((0.5, 0.25, 0.1)):
        applied = rng.random(len(lists)) < p
        np.add.at(applications, lists[applied, rank], 1)
    return applications


def exposure_metrics(
    lists: list[np.ndarray] | np.ndarray, n_postings: int, openings: np.ndarray
) -> dict[str, float]:
    exposure = np.zeros(n_postings)
    top = np.zeros(n_postings)
    for row in lists:
        for r, j in enumerate(row, start=1):
            exposure[j] += rank_discount(r)
            top[j] += 1
    return {
        "gini_exposure": gini(exposure),
        "gini_exposure_per_opening": gini(exposure / openings),
        "never_recommended": float(np.mean(top == 0)),
        "congestion_at_10": congestion_at_k(top, n_postings),
        "coverage_at_10": coverage_at_k(top, n_postings),
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    t0 = time.perf_counter()
    m = make_market(args.seekers, args.postings, args.candidates, args.seed)
    t_market = time.perf_counter() - t0
    plain = plain_lists(m)
    applications = simulate_applications(plain, m.n_postings, args.seed)
    over_cap = applications >= args.cap * m.openings
    t0 = time.perf_counter()
    market = as_market(m)
    caps = capacities_from_openings(m.openings, float(args.seekers), headroom=args.headroom)
    priced = congestion_prices(market, caps, epsilon=args.epsilon)
    t_capacity = time.perf_counter() - t0
    served, rounds = priced.prices, 0
    if args.prices == "spread":
        spread = spread_prices(
            market, scale=args.floor, list_length=K_LIST, floor_prices=priced.prices
        )
        served, rounds = spread.prices, spread.rounds
    t_prices = time.perf_counter() - t0

    t0 = time.perf_counter()
    shown: list[np.ndarray] = []
    ndcg_plain, ndcg_capacity, worst_loss = [], [], 0.0
    lists_over_cap_plain = int(np.any(over_cap[plain], axis=1).sum())
    lists_over_cap = 0
    for i in range(args.seekers):
        cands, scores = m.candidates[i], m.scores[i]
        out = capacity_rerank(
            scores.tolist(),
            prices=served[cands].tolist(),
            applications=applications[cands].tolist(),
            excluded=over_cap[cands].tolist(),
            relevance_floor=args.floor,
            k=K_LIST,
        )
        top = out.order[:K_LIST]
        shown.append(cands[top])
        lists_over_cap += int(over_cap[cands[top]].any())
        ndcg_capacity.append(ndcg_at_k(scores[top].tolist(), scores.tolist(), K_LIST))
        plain_order = np.argsort(-scores, kind="stable")[:K_LIST]
        ndcg_plain.append(ndcg_at_k(scores[plain_order].tolist(), scores.tolist(), K_LIST))
        eligible = np.sort(scores[~over_cap[cands]])[::-1][: len(top)]
        if len(top):
            worst_loss = max(worst_loss, float(np.max(eligible - scores[top])))
    t_serve = time.perf_counter() - t0

    return {
        "market": f"{args.seekers:,} seekers x {args.postings:,} postings, "
        f"{args.candidates} candidates each",
        "policy": f"cap {args.cap} applications/opening, floor {args.floor}, "
        f"headroom {args.headroom}, epsilon {args.epsilon}, prices {args.prices}",
        "plain": exposure_metrics(plain, m.n_postings, m.openings),
        "capacity": exposure_metrics(shown, m.n_postings, m.openings),
        "ndcg_plain": float(np.mean(ndcg_plain)),
        "ndcg_capacity": float(np.mean(ndcg_capacity)),
        "worst_rank_loss": worst_loss,
        "lists_with_posting_past_cap_plain": lists_over_cap_plain,
        "lists_with_posting_past_cap_capacity": lists_over_cap,
        "postings_past_cap": int(over_cap.sum()),
        "prices": {
            "seconds": t_prices,
            "capacity_seconds": t_capacity,
            "sinkhorn_iterations": priced.iterations,
            "converged": priced.converged,
            "max_overload": priced.max_overload,
            "capacity_priced_postings": int(np.count_nonzero(priced.prices > 0)),
            "spread_rounds": rounds,
            "priced_postings": int(np.count_nonzero(served > 0)),
        },
        "market_seconds": t_market,
        "rerank_us_per_list": 1e6 * t_serve / args.seekers,
    }


def time_prices(n_seekers: int, n_postings: int, args: argparse.Namespace) -> dict[str, float]:
    m = make_market(n_seekers, n_postings, args.candidates, args.seed + 2)
    t0 = time.perf_counter()
    market = as_market(m)
    caps = capacities_from_openings(m.openings, float(n_seekers), headroom=args.headroom)
    priced = congestion_prices(market, caps, epsilon=args.epsilon)
    spread = spread_prices(market, scale=args.floor, list_length=K_LIST, floor_prices=priced.prices)
    return {
        "seconds": time.perf_counter() - t0,
        "iterations": priced.iterations,
        "converged": priced.converged,
        "spread_rounds": spread.rounds,
    }


async def route_overhead(args: argparse.Namespace) -> dict[str, float]:
    """`GET /v1/seekers/{id}/matches` in-process at `--route-postings` postings (the
    bench_matching.py set-up: generated records imported through the API with real embeddings,
    copied up in SQL), p50/p99 with the capacity policy off, then `balanced` after a rebalance
    over the lists just made and 20,000 simulated applications. Different seekers in each
    phase (an unchanged request would answer its stored list again)."""
    import asyncio
    import random
    import tempfile

    sys.path.insert(0, str(ROOT / "bench"))
    import bench_matching as bm

    from matching.embed import SentenceTransformerEmbedder
    from service.auth.permissions import Role
    from service.config import Settings
    from service.kit.embedded_db import start_embedded

    # the import answers when done (bench_matching.import_base expects 200, not a queued job)
    os.environ.setdefault("JOBMATCH_BULK_SYNC_MAX_RECORDS", "100000")
    workdir = Path(args.workdir or Path(tempfile.gettempdir()) / "jobmatch-bench-capacity")
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    workdir.chmod(0o755)  # noqa: ASYNC240  (PostgreSQL runs as another user when root)
    server_url = start_embedded(workdir)
    embedder = SentenceTransformerEmbedder()
    from service.app import read_reference_data

    # ESCO text understanding, read once per process before any app starts (as the tests do)
    read_reference_data(Settings(data_dir=workdir), embedder)
    settings = argparse.Namespace(
        workdir=str(workdir),
        warm=True,
        vectors_in_memory=Settings.model_fields["posting_vectors_in_memory"].default,
    )
    url = await bm.ensure_database(server_url, "bench_base")
    async with bm.running_app(url, settings, embedder) as (_, _, pool, _, keys, client):
        if not await pool.fetchval("SELECT count(*) FROM posting"):
            bm.log("importing 2000 generated postings and seekers (real embeddings)")
            await bm.import_base(client, keys[Role.portal], 2000)
    n = args.route_postings
    url = await bm.ensure_database(server_url, f"bench_{n}_postings", template="bench_base")
    queries, warmup = args.route_queries, 20
    async with bm.running_app(url, settings, embedder) as (app, _, pool, agency, keys, client):
        async with pool.acquire() as conn:
            await bm.scale_up(conn, "posting", n, 0.02, seed=100)
            await conn.execute("DELETE FROM capacity_policy")
            await conn.execute("DELETE FROM congestion_price_set")
        state = app.state.jobmatch
        if state.warming is not None:
            await state.warming
        rnd = random.Random(5)
        async with pool.acquire() as conn:
            seekers = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM seeker WHERE personalised_ranking ORDER BY id"
                )
            ]
            postings = [r["id"] for r in await conn.fetch("SELECT id FROM posting")]
        chosen = rnd.sample(seekers, 2 * (queries + warmup))
        off_set, on_set = chosen[: queries + warmup], chosen[queries + warmup :]
        portal, admin = keys[Role.portal], keys[Role.admin]

        def paths(ids: list[object]) -> list[str]:
            return [f"/v1/seekers/{s}/matches?limit=20" for s in ids]

        bm.log(f"{n} postings: {queries} seeker requests, capacity policy off")
        off, off_errors = await bm.timed_gets(client, paths(off_set), portal, warmup)
        async with pool.acquire() as conn:
            pairs = [
                (rnd.choice(seekers), postings[min(int(rnd.paretovariate(1.2)), len(postings)) - 1])
                for _ in range(20_000)
            ]
            await conn.executemany(
                "INSERT INTO outcome (id, agency_id, seeker_id, posting_id, outcome, created_by)"
                " VALUES (gen_random_uuid(), $1, $2, $3, 'applied', gen_random_uuid())",
                [(agency.id, s, p) for s, p in pairs],
            )
        r = await client.put(
            "/v1/capacity-policy",
            json={"method": "balanced", "relevance_floor": 0.1},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        job = (await client.post("/v1/capacity-policy:rebalance", headers=admin)).json()
        while job["status"] not in ("succeeded", "failed"):
            await asyncio.sleep(0.5)
            job = (await client.get(f"/v1/jobs/{job['id']}", headers=admin)).json()
        bm.log(f"rebalance: {job['status']} {job.get('result')}")
        bm.log(f"{n} postings: {queries} seeker requests, capacity policy balanced")
        on, on_errors = await bm.timed_gets(client, paths(on_set), portal, warmup)
    return {
        "postings": n,
        "off_p50": bm.pct(off, 50),
        "off_p99": bm.pct(off, 99),
        "on_p50": bm.pct(on, 50),
        "on_p99": bm.pct(on, 99),
        "errors": off_errors + on_errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seekers", type=int, default=20_000)
    parser.add_argument("--postings", type=int, default=5_000)
    parser.add_argument("--candidates", type=int, default=100, help="retrieved per seeker")
    parser.add_argument("--cap", type=int, default=80, help="applications per opening")
    parser.add_argument(
        "--floor", type=float, default=0.4, help="relevance floor (the price scale)"
    )
    parser.add_argument("--headroom", type=float, default=1.5)
    parser.add_argument("--epsilon", type=float, default=DEFAULT_EPSILON)
    parser.add_argument(
        "--prices",
        choices=("spread", "capacity"),
        default="spread",
        help="spread: capacity prices raised by spread_prices (the service's 'balanced'); "
        "capacity: the Sinkhorn capacity prices alone (for comparison)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--time-prices",
        default="50000x10000",
        help="also time the price computation alone at SEEKERSxPOSTINGS ('' = skip)",
    )
    parser.add_argument(
        "--route-postings",
        type=int,
        default=0,
        help="also time the seeker match route in-process at this many postings, policy off "
        "vs balanced (minutes: imports and copies data as bench_matching.py does)",
    )
    parser.add_argument("--route-queries", type=int, default=200)
    parser.add_argument("--workdir", default="", help="for --route-postings")
    args = parser.parse_args()
    print(
        f"# bench_congestion on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (shared with other work: times are indicative)"
    )
    result = run(args)
    plain, capacity = result["plain"], result["capacity"]
    assert isinstance(plain, dict) and isinstance(capacity, dict)
    print(f"\n{result['market']}; {result['policy']}\n")
    print("| | plain | capacity-aware |")
    print("|---|---|---|")
    for key, label in (
        ("gini_exposure", "Gini of exposure"),
        ("gini_exposure_per_opening", "Gini of exposure per opening"),
        ("never_recommended", "postings never recommended"),
        ("congestion_at_10", "Congestion@10"),
        ("coverage_at_10", "Coverage@10"),
    ):
        print(f"| {label} | {plain[key]:.3f} | {capacity[key]:.3f} |")
    ratio = float(result["ndcg_capacity"]) / float(result["ndcg_plain"])  # type: ignore[arg-type]
    print(
        f"| mean nDCG@10 (unconstrained scores) | {result['ndcg_plain']:.3f} | "
        f"{result['ndcg_capacity']:.3f} ({ratio:.3f}x) |"
    )
    print(
        f"| lists with a posting past its cap | {result['lists_with_posting_past_cap_plain']:,} | "
        f"{result['lists_with_posting_past_cap_capacity']:,} |"
    )
    print(f"\nlargest score loss at any rank: {result['worst_rank_loss']:.4f} (floor {args.floor})")
    print(f"postings past the cap: {result['postings_past_cap']:,}")
    print(f"prices: {result['prices']}")
    print(
        f"re-ranking: {result['rerank_us_per_list']:.0f} us per list; "
        f"market generated in {result['market_seconds']:.1f} s"
    )
    if args.time_prices:
        n, p = (int(x) for x in args.time_prices.lower().split("x"))
        timed = time_prices(n, p, args)
        print(
            f"\nprices alone at {n:,} x {p:,} ({args.candidates} candidates each): "
            f"{timed['seconds']:.1f} s, {timed['iterations']} Sinkhorn iterations, "
            f"converged {timed['converged']}, {timed['spread_rounds']} spread rounds"
        )
    if args.route_postings:
        import asyncio

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        route = asyncio.run(route_overhead(args))
        print(
            f"\nGET /v1/seekers/{{id}}/matches at {route['postings']:,} postings: "
            f"p50 {route['off_p50']:.1f} ms off, {route['on_p50']:.1f} ms balanced "
            f"(+{route['on_p50'] - route['off_p50']:.1f} ms); p99 {route['off_p99']:.1f} / "
            f"{route['on_p99']:.1f} ms; errors {route['errors']}"
        )


if __name__ == "__main__":
    main()
