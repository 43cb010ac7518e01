"""The seeker match route with each worker's converted-posting cache full and small, alternated.

Several workers each keep their own cache of converted posting profiles
(`JOBMATCH_POSTING_PROFILE_CACHE`), the largest per-worker memory at 100k postings (bench/README
section 13). A smaller cache costs reads and conversions on each miss. This times both in one
process, request by request on the same seekers: the served cache (warmed, holding every
posting) and a cache of `--small` entries that fills as requests go, as a worker's would.
Run `bench/bench_matching.py` once first: it builds `bench_<N>` in the work directory.

    HF_HUB_OFFLINE=1 python bench/bench_profile_cache_size.py --n 100000 --small 20000
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

from service.embeddings.profile_cache import ProfileCache  # noqa: E402
from service.records import convert  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=20_000, help="entries of the small cache")
    parser.add_argument("--workdir", default="/tmp/jm-bench")
    parser.add_argument("--queries", type=int, default=300, help="timed seekers")
    parser.add_argument("--warmup", type=int, default=200, help="seekers that fill the small cache")
    args = parser.parse_args()

    async with bm.served_database(args.workdir, args.n, seekers=5000) as (
        state,
        client,
        portal,
        ids,
    ):
        seekers = random.Random(7).sample(ids, args.queries + args.warmup)
        caches = {
            "full": state.posting_profiles,
            "small": ProfileCache(convert.posting_for_matching, args.small),
        }
        state.settings = state.settings.model_copy(update={"match_list_reuse_seconds": 0})
        times: dict[str, list[float]] = {name: [] for name in caches}
        counts = {name: [0, 0] for name in caches}
        for i, seeker in enumerate(seekers):
            order = list(caches) if i % 2 == 0 else list(reversed(caches))
            for name in order:
                cache = state.posting_profiles = caches[name]
                hits, misses = cache.hits, cache.misses
                path = f"/v1/seekers/{seeker}/matches?limit=20"
                elapsed_ms = await bm.timed_get_ms(client, path, portal)
                if i >= args.warmup:
                    times[name].append(elapsed_ms)
                    counts[name][0] += cache.hits - hits
                    counts[name][1] += cache.misses - misses
        state.posting_profiles = caches["full"]
    print(f"N={args.n}; {args.queries} seekers timed after {args.warmup} that fill the small cache")
    print("| cache | entries held | p50 ms | p90 ms | profiles from the cache |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        ordered = sorted(values)
        hits, misses = counts[name]
        print(
            f"| {name} | {len(caches[name]):,} | {statistics.median(values):.1f} "
            f"| {ordered[int(0.9 * (len(ordered) - 1))]:.1f} | {hits / max(1, hits + misses):.0%} |"
        )
    small, full = (statistics.median(times[name]) for name in ("small", "full"))
    print(f"small / full p50: {small / full:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
