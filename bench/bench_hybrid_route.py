"""The seeker match route with and without hybrid retrieval, interleaved in one process.

bench_matching.py times one configuration per run, so the cost of the full-text half of hybrid
retrieval shows only as the difference of two runs minutes apart on a shared machine. This
times both in the same process, on the same seekers, request by request: each seeker's list is
asked for with `lexical_candidate_pool` 50 (the default) and 0 (vector search only) one after the
other, the order alternating, so that a shift in the machine's load weighs on both alike;
everything else as served (posting vectors and profiles in memory, warmed first; stored lists
not reused, so every request ranks anew).
Run `bench/bench_matching.py` once first: it builds `bench_<N>` in the work directory.

    HF_HUB_OFFLINE=1 python bench/bench_hybrid_route.py --n 100000 --workdir /tmp/jm-bench
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_matching as bm  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--workdir", default="/tmp/jm-bench")
    parser.add_argument("--queries", type=int, default=200, help="timed requests per round")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the seekers")
    args = parser.parse_args()

    async with bm.served_database(args.workdir, args.n, seekers=2000) as (
        state,
        client,
        portal,
        ids,
    ):
        seekers = random.Random(5).sample(ids, args.queries + args.warmup)
        times: dict[int, list[float]] = {50: [], 0: []}
        configurations = {
            pool_size: state.settings.model_copy(
                update={"lexical_candidate_pool": pool_size, "match_list_reuse_seconds": 0}
            )
            for pool_size in times
        }
        for round_ in range(args.rounds):
            for i, seeker in enumerate(seekers):
                order = list(times) if (i + round_) % 2 == 0 else list(reversed(times))
                for lexical_pool in order:
                    state.settings = configurations[lexical_pool]
                    path = f"/v1/seekers/{seeker}/matches?limit=20"
                    elapsed_ms = await bm.timed_get_ms(client, path, portal)
                    if i >= args.warmup:
                        times[lexical_pool].append(elapsed_ms)
    with_lexical, without = (statistics.median(times[p]) for p in (50, 0))
    print(f"N={args.n}, {args.rounds} passes over {args.queries} seekers, both per seeker")
    print("| lexical pool | p50 ms | p90 ms | p50 / without |")
    print("|---|---|---|---|")
    for pool_size, values in times.items():
        ordered = sorted(values)
        p50 = statistics.median(values)
        print(
            f"| {pool_size} | {p50:.1f} | {ordered[int(0.9 * (len(ordered) - 1))]:.1f} "
            f"| {p50 / without:.2f} |"
        )
    paired = [a / b for a, b in zip(times[50], times[0], strict=True)]
    print(
        f"hybrid / vector only: {with_lexical / without:.2f} (ratio of the p50s); "
        f"median of the per-request ratios {statistics.median(paired):.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
