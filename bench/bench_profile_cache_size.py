"""The seeker match route with the converted postings read three ways, alternated.

A worker alone keeps every posting converted for scoring in its own cache
(`JOBMATCH_POSTING_PROFILE_CACHE`); several workers read them from the records of the shared
snapshot instead (service/embeddings/shared_profiles.py), decoding the candidates of each
request, because a cache per worker was the largest per-worker memory at 100k postings
(bench/README section 13). This times, in one process, request by request on the same seekers:
`full`, the served cache (warmed, holding every posting); `small`, a cache of `--small` entries
that fills as requests go; `shared`, every posting's record written as the snapshot writer
writes them, saved to files and mapped, with an empty private cache.
Run `bench/bench_matching.py` once first: it builds `bench_<N>` in the work directory.

    HF_HUB_OFFLINE=1 python bench/bench_profile_cache_size.py --n 100000 --small 20000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_matching as bm  # noqa: E402

from matching.posting_codec import EncodedPostings, PostingEncoder  # noqa: E402
from service.embeddings.profile_cache import ProfileCache  # noqa: E402
from service.embeddings.shared_profiles import SharedPostingProfiles  # noqa: E402
from service.records import convert  # noqa: E402


def mapped_records(cache: ProfileCache[Any], where: Path) -> SharedPostingProfiles:
    """Every posting of the full cache as snapshot records, saved and mapped as a worker maps
    them (the arrays' names as in service/embeddings/shared_vectors.py)."""
    keys = list(cache._entries)
    encoder = PostingEncoder()
    for key in keys:
        version, profile = cache._entries[key]
        encoder.add(profile, version)
    sorted_keys = np.array([k.bytes for k in keys], "S16")
    order = np.argsort(sorted_keys, kind="stable")
    arrays = {
        **{f"posting_{name}": values for name, values in encoder.arrays().items()},
        "sorted_keys": sorted_keys[order],
        "key_rows": order.astype(np.int64),
    }
    for name, values in arrays.items():
        np.save(where / f"{name}.npy", values)
    m = {name: np.load(where / f"{name}.npy", mmap_mode="r") for name in arrays}
    parts = ("records", "record_offsets", "versions", "entries", "entry_offsets")
    encoded = EncodedPostings(**{part: m[f"posting_{part}"] for part in parts})
    size = sum(values.nbytes for values in arrays.values())
    print(f"records: {len(keys):,} postings, {size / 2**20:.1f} MiB of files")
    return SharedPostingProfiles("bench", m["sorted_keys"], m["key_rows"], encoded)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=20_000, help="entries of the small cache")
    parser.add_argument("--workdir", default="/tmp/jm-bench")
    parser.add_argument("--queries", type=int, default=300, help="timed seekers")
    parser.add_argument("--warmup", type=int, default=200, help="seekers that fill the small cache")
    parser.add_argument("--modes", default="full,small,shared")
    args = parser.parse_args()
    modes = args.modes.split(",")

    async with bm.served_database(args.workdir, args.n, seekers=5000) as (
        state,
        client,
        portal,
        ids,
    ):
        seekers = random.Random(7).sample(ids, args.queries + args.warmup)
        vectors = state.posting_vectors
        assert vectors is not None and vectors.store is None, "one process, vectors in memory"
        scratch = Path(tempfile.mkdtemp(prefix="jobmatch-bench-records-"))
        shared = mapped_records(state.posting_profiles, scratch)
        caches = {
            "full": state.posting_profiles,
            "small": ProfileCache(convert.posting_for_matching, args.small),
            "shared": ProfileCache(convert.posting_for_matching, args.small),
        }
        caches = {name: caches[name] for name in modes}
        if "shared" in caches:
            caches["shared"].generation = shared.generation
        state.settings = state.settings.model_copy(update={"match_list_reuse_seconds": 0})
        times: dict[str, list[float]] = {name: [] for name in caches}
        counts = {name: [0, 0] for name in caches}
        for i, seeker in enumerate(seekers):
            order = list(caches) if i % 2 == 0 else list(reversed(caches))
            for name in order:
                cache = state.posting_profiles = caches[name]
                vectors.postings = shared if name == "shared" else None
                hits, misses = cache.hits, cache.misses
                path = f"/v1/seekers/{seeker}/matches?limit=20"
                elapsed_ms = await bm.timed_get_ms(client, path, portal)
                if i >= args.warmup:
                    times[name].append(elapsed_ms)
                    counts[name][0] += cache.hits - hits
                    counts[name][1] += cache.misses - misses
        state.posting_profiles = caches["full"]
        vectors.postings = None
    print(f"N={args.n}; {args.queries} seekers timed after {args.warmup} that fill the small cache")
    print("| postings from | private entries | p50 ms | p90 ms | from the private cache |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        ordered = sorted(values)
        hits, misses = counts[name]
        print(
            f"| {name} | {len(caches[name]):,} | {statistics.median(values):.1f} "
            f"| {ordered[int(0.9 * (len(ordered) - 1))]:.1f} | {hits / max(1, hits + misses):.0%} |"
        )
    full = statistics.median(times["full"])
    for name in caches:
        if name != "full":
            print(f"{name} / full p50: {statistics.median(times[name]) / full:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
