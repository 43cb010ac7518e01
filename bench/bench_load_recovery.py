"""Closed loop at several concurrencies, then recovery from kill -9 of the embedded PostgreSQL.

Run from the repository root (about four minutes):

    .venv/bin/python bench/bench_load_recovery.py
    .venv/bin/python bench/bench_load_recovery.py --concurrency 8 32 64 --seconds 20

1. starts `jobmatch serve` with JOBMATCH_WORKERS=2 (embedded PostgreSQL in a temporary
   directory, per-key rate limit off, default load shedding) and imports generated postings
   and seekers;
2. per concurrency, N clients each send `GET /v1/seekers/{id}/matches?limit=20` (random
   seekers) back to back for `--seconds`: goodput (2xx per second), p50/p99 of the 2xx, the
   share answered 503 (shed) and any other status;
3. recovery: with 8 clients running, the postmaster is killed with SIGKILL (its pid proven from
   postmaster.pid); reported: seconds until /readyz is 200 again, seconds until the first 2xx
   match after the kill, and the statuses seen meanwhile (503 only is the expected answer).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
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
from bench.bench_http import bulk, ids  # noqa: E402


async def closed_loop(
    base: str, key: str, seekers: list[str], clients: int, seconds: float
) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    ok_latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60, limits=limits
    ) as client:

        async def one() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    r = await client.get(f"/v1/seekers/{random.choice(seekers)}/matches?limit=20")
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                statuses[status] += 1
                if 200 <= status < 300:
                    ok_latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    total = sum(statuses.values())
    q = statistics.quantiles(ok_latencies, n=100) if len(ok_latencies) > 1 else [0.0] * 99
    return {
        "clients": clients,
        "goodput_rps": len(ok_latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "shed_share": statuses[503] / total if total else 0.0,
        "other": {s: n for s, n in statuses.items() if s != 503 and not 200 <= s < 300},
        "requests": total,
    }


async def recovery(base: str, key: str, seekers: list[str], data_dir: Path) -> dict[str, Any]:
    from service.kit import embedded_db

    pid = embedded_db.postmaster_pid(data_dir)
    assert pid is not None
    load = asyncio.create_task(closed_loop(base, key, seekers, 8, 40))
    await asyncio.sleep(5)
    killed = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    first_ok = ready = None
    seen: Counter[int] = Counter()
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as client:
        while first_ok is None or ready is None:
            if time.perf_counter() - killed > 120:
                break
            try:
                if ready is None and (await client.get("/readyz")).status_code == 200:
                    ready = time.perf_counter() - killed
                r = await client.get(f"/v1/seekers/{random.choice(seekers)}/matches?limit=20")
                seen[r.status_code] += 1
                if first_ok is None and r.status_code == 200:
                    first_ok = time.perf_counter() - killed
            except httpx.HTTPError:
                seen[0] += 1
            await asyncio.sleep(0.05)
    during = await load
    return {
        "ready_after_s": ready,
        "first_2xx_after_s": first_ok,
        "statuses_while_recovering": dict(seen),
        "load_statuses": {
            "shed_share": during["shed_share"],
            "other": during["other"],
            "requests": during["requests"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postings", type=int, default=1000)
    parser.add_argument("--seekers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    args = parser.parse_args()
    from seed.generate import generate_postings, generate_seekers

    data_dir = H.make_data_dir()
    env = H.server_env(data_dir, H.free_port(), workers=2, posting_vectors_in_memory=150000)
    try:
        with H.Server(env) as server:
            admin = H.create_agency(env, "Bench agency")
            key = H.create_key(server.base, admin, "portal")
            bulk(server.base, key, "posting", generate_postings(args.postings, seed=3))
            bulk(server.base, key, "seeker", generate_seekers(args.seekers, seed=4))
            seekers = ids(server.base, key, "seeker")
            caseworker = H.create_key(server.base, admin, "caseworker")
            print(f"machine: {H.machine()}; load average {os.getloadavg()}", flush=True)
            for clients in args.concurrency:
                result = asyncio.run(
                    closed_loop(server.base, caseworker, seekers, clients, args.seconds)
                )
                print(
                    f"c={clients:>3}: goodput {result['goodput_rps']:.1f}/s, "
                    f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
                    f"shed {result['shed_share']:.1%}, other {result['other']}, "
                    f"{result['requests']} requests; load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            print("recovery:", asyncio.run(recovery(server.base, caseworker, seekers, data_dir)))
    finally:
        H.remove_data_dir(data_dir)


if __name__ == "__main__":
    main()
