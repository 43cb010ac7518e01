"""A portal's simultaneous users against one serving process: is everyone served, and where does
load shedding start?

Run from the repository root (a few minutes):

    .venv/bin/python bench/bench_portal.py
    .venv/bin/python bench/bench_portal.py --users 30,60 --requests 2 --configs default

What it does:

1. starts `jobmatch serve` (one worker, the default; embedded PostgreSQL in a temporary
   directory; per-key rate limit off; stored lists never reused, so every request makes its
   list) and bulk-imports generated postings and seekers;
2. for each `--configs` entry (JOBMATCH_* settings; `default` = the service's defaults, `before`
   = the defaults before issue 16: a 0.25 s wait and as many waiting as the cap) restarts the
   server with them, then for each `--users` count: that many users start at once, and each
   asks `--requests` times, back to back, for a random seeker's match list (limit 20). A
   request is answered 200, or 503 when shed; the client waits up to 30 s.

Prints, per config and user count: answers by status, share shed, latency p50 / p99 / max of
the served, wall time, and served lists per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import _harness as H  # noqa: E402
from bench.bench_http import bulk, ids, pct  # noqa: E402

CONFIGS: dict[str, dict[str, object]] = {
    "default": {},
    "before": {"max_queue_wait_s": 0.25, "max_queue_length": 4},
}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def burst(base: str, key: str, paths: list[str], users: int, requests: int) -> dict[str, Any]:
    """`users` users at once, each sending `requests` requests back to back."""
    outcomes: list[tuple[int, float]] = []
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:
        start = asyncio.Event()

        async def user() -> None:
            await start.wait()
            for _ in range(requests):
                t0 = time.perf_counter()
                try:
                    status = (await client.get(random.choice(paths), headers=headers)).status_code
                except httpx.TimeoutException:
                    status = 0
                outcomes.append((status, time.perf_counter() - t0))

        tasks = [asyncio.create_task(user()) for _ in range(users)]
        await asyncio.sleep(0.1)  # every user waits at the start line
        t0 = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    served = sorted(t for s, t in outcomes if s == 200)
    counts = Counter(s for s, _ in outcomes)
    return {
        "users": users,
        "requests": len(outcomes),
        "status": dict(sorted(counts.items())),
        "shed_share": round(counts.get(503, 0) / len(outcomes), 3),
        "served_p50_ms": _ms(pct(served, 50)),
        "served_p99_ms": _ms(pct(served, 99)),
        "served_max_ms": round(served[-1] * 1000, 1) if served else None,
        "wall_s": round(wall, 2),
        "served_per_s": round(len(served) / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postings", type=int, default=1000)
    parser.add_argument("--seekers", type=int, default=100)
    parser.add_argument("--users", default="30,60,120,240")
    parser.add_argument("--requests", type=int, default=4, help="per user, back to back")
    parser.add_argument("--configs", default="before,default")
    args = parser.parse_args()

    from seed.generate import generate_postings, generate_seekers

    random.seed(1)
    print(f"machine: {H.machine()}")
    print(
        f"data: {args.postings} postings, {args.seekers} seekers; one worker; "
        f"{args.requests} match requests per user, back to back",
        flush=True,
    )
    data_dir = H.make_data_dir()
    port = H.free_port()
    fixed = {"match_list_reuse_seconds": 0}
    server = None
    try:
        for n, name in enumerate(c.strip() for c in args.configs.split(",") if c.strip()):
            if server is not None:
                server.stop()
            server = H.Server(H.server_env(data_dir, port, **fixed, **CONFIGS[name]))
            if n == 0:
                admin = H.create_agency(server.env, "Bench agency")
                key = H.create_key(server.base, admin, "portal")
                bulk(server.base, key, "posting", generate_postings(args.postings, seed=3))
                bulk(server.base, key, "seeker", generate_seekers(args.seekers, seed=4))
                paths = [
                    f"/v1/seekers/{i}/matches?limit=20" for i in ids(server.base, key, "seeker")
                ]
            asyncio.run(burst(server.base, key, paths, 8, 4))  # warm-up
            print(f"\nconfig {name}: {json.dumps(CONFIGS[name])}", flush=True)
            for users in (int(u) for u in args.users.split(",")):
                result = asyncio.run(burst(server.base, key, paths, users, args.requests))
                print(json.dumps(result), flush=True)
    finally:
        if server is not None:
            server.stop()
        H.remove_data_dir(data_dir)


if __name__ == "__main__":
    main()
