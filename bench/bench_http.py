"""HTTP under load on loopback: the production command against a bare FastAPI ceiling, and load
shedding at twice the sustainable rate.

Run from the repository root (needs `wrk`: `apt-get install -y wrk`; about ten minutes):

    .venv/bin/python bench/bench_http.py
    .venv/bin/python bench/bench_http.py --postings 300 --seekers 20 --seconds 5 --rounds 1

What it does, in one run:

1. starts `jobmatch serve` with JOBMATCH_WORKERS=2 (embedded PostgreSQL in a temporary
   directory, per-key rate limit off) and bulk-imports generated postings and seekers;
2. starts the ceiling: a bare FastAPI app whose one route runs `SELECT 1` on an asyncpg pool of
   the same size against the same PostgreSQL, under uvicorn with the same number of workers;
3. closed loop with wrk (`--rounds` times, interleaved): the ceiling, `GET /v1/postings/{id}`
   (random ids) and `GET /v1/seekers/{id}/matches?limit=20` (random seekers); requests/s,
   p50/p99 and errors, medians over the rounds;
4. open loop (this script's own constant-rate generator, one connection per request on bare
   asyncio streams, latency counted from each request's scheduled time, so a slow server cannot
   slow the offered load) on the match route at
   `--overload` times its closed-loop rate, once per `--caps` value of JOBMATCH_MAX_IN_FLIGHT
   (the service is restarted for each; 0 = no shedding, "default" = the service's default).

With several worker counts (`--workers 1,2,4`) it measures scaling instead: the match route in a
closed loop (wrk, `--rounds` times) against `jobmatch serve` with each number of workers in
turn (restarted for each, the same data), with requests/s, p50/p99 and, from the server's own
`/metrics` (the figures of every worker added up), the answers by status: shed ones (503, 429:
deliberate) apart from errors (any other non-2xx) and wrk's socket errors:

    .venv/bin/python bench/bench_http.py --workers 1,2,4
    .venv/bin/python bench/bench_http.py --workers 1,2,4 --postings 300 --seekers 20 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import _harness as H  # noqa: E402

WRK_SCRIPT = """
paths = {%s}
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "non2xx": %%d, '
    .. '"socket_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def make_bare_app() -> Any:
    """The ceiling: FastAPI + asyncpg `SELECT 1`, nothing else (served with `--factory`)."""
    import asyncpg
    from fastapi import FastAPI

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        app.state.pool = await asyncpg.create_pool(
            os.environ["BENCH_DATABASE_URL"], min_size=2, max_size=10
        )
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/v1/ping")
    async def ping() -> dict[str, int]:
        async with app.state.pool.acquire() as conn:
            return {"ok": await conn.fetchval("SELECT 1")}

    return app


def wrk(url: str, paths: list[str], key: str, seconds: int, connections: int) -> dict[str, Any]:
    lua = WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        out = subprocess.run(
            [
                *("wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"),
                *("-H", f"Authorization: Bearer {key}", "-s", f.name, url),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(f.name)
    stats: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats


async def open_loop(
    base: str, paths: list[str], key: str, rate: float, seconds: float
) -> dict[str, Any]:
    """Offer `rate` requests/s for `seconds` whatever the answers; latency from schedule.

    Each request is one connection (`Connection: close`) written and read with bare asyncio
    streams: a client with a connection pool (httpx) spends more CPU on its pool than the server
    on a request once thousands are outstanding, and on these 2 shared cores its own delays
    then dominate what it measures.
    """
    host, port = base.removeprefix("http://").split(":")
    results: list[tuple[str, float]] = []
    loop = asyncio.get_running_loop()

    async def one(path: str, scheduled: float) -> None:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        writer = None
        try:
            async with asyncio.timeout(10.0):
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(request)
                status_line = await reader.readline()
                await reader.read()  # to the end: the server closes after the answer
            outcome = status_line.split(b" ", 2)[1].decode() if status_line else "closed"
        except TimeoutError:
            outcome = "timeout"
        except OSError as exc:
            outcome = type(exc).__name__
        finally:
            if writer is not None:
                writer.close()
        results.append((outcome, loop.time() - scheduled))

    tasks = []
    start = loop.time()
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(random.choice(paths), scheduled)))
    lag = loop.time() - (start + (len(tasks) - 1) / rate)
    await asyncio.gather(*tasks)
    ok = sorted(t for s, t in results if s.startswith("2"))
    shed = sorted(t for s, t in results if s in ("503", "429"))
    return {
        "offered_rps": rate,
        "generator_lag_s": lag,
        "outcomes": dict(Counter(s for s, _ in results)),
        "goodput_rps": len(ok) / seconds,
        "ok_p50_ms": pct(ok, 50),
        "ok_p99_ms": pct(ok, 99),
        "shed_p50_ms": pct(shed, 50),
        "shed_p99_ms": pct(shed, 99),
    }


BULK_PIECE = 2000


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return 1000 * values[min(len(values) - 1, int(len(values) * p / 100))]


def bulk(base: str, key: str, kind: str, items: list[dict[str, Any]]) -> None:
    """Upload in pieces of `BULK_PIECE` records: one body of more passes the 8 MiB limit."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    with httpx.Client(base_url=base, headers=headers, timeout=3600) as client:
        for start in range(0, len(items), BULK_PIECE):
            piece = items[start : start + BULK_PIECE]
            body = b"\n".join(orjson.dumps(i) for i in piece)
            job = client.post(f"/v1/{kind}s:bulk", content=body).json()
            while job["status"] in ("queued", "running"):
                time.sleep(0.5)
                job = client.get(f"/v1/jobs/{job['id']}").json()
            assert job["status"] == "succeeded" and job["created"] == len(piece), job


def import_generated(base: str, key: str, postings: int, seekers: int) -> list[str]:
    """Generated postings and seekers uploaded through the bulk routes (seeds 3 and 4, as
    every run of these benchmarks); the paths of the seekers' match lists."""
    from seed.generate import generate_postings, generate_seekers

    t0 = time.perf_counter()
    bulk(base, key, "posting", generate_postings(postings, seed=3))
    bulk(base, key, "seeker", generate_seekers(seekers, seed=4))
    print(f"imported the data in {time.perf_counter() - t0:.0f} s", flush=True)
    return [f"/v1/seekers/{i}/matches?limit=20" for i in ids(base, key, "seeker")]


def ids(base: str, key: str, kind: str) -> list[str]:
    out: list[str] = []
    cursor = None
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"/v1/{kind}s", params=params).json()
            out += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return out


def show(name: str, runs: list[dict[str, Any]]) -> dict[str, float]:
    med = {
        k: statistics.median(r[k] for r in runs)
        for k in ("rps", "p50_us", "p99_us", "non2xx", "socket_errors")
    }
    print(
        f"{name:<34} {med['rps']:8.0f} req/s  p50 {med['p50_us'] / 1000:7.1f} ms  "
        f"p99 {med['p99_us'] / 1000:7.1f} ms  errors {med['non2xx'] + med['socket_errors']:.0f}  "
        f"(per round: {', '.join(str(round(r['rps'])) for r in runs)})",
        flush=True,
    )
    return med


MATCH_ROUTE = "/v1/seekers/{seeker_id}/matches"


def statuses(base: str) -> Counter[str]:
    """Answers of the match route by status so far, all workers added up (`/metrics`)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: Counter[str] = Counter()
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=60).text):
        for sample in family.samples:
            if (
                sample.name == "jobmatch_http_requests_total"
                and sample.labels.get("route") == MATCH_ROUTE
            ):
                out[sample.labels["status"]] += int(sample.value)
    return out


def scaling(
    args: argparse.Namespace, data_dir: Path, port: int, key: str, match_paths: list[str]
) -> None:
    """The match route with each number of workers in turn (see the module)."""
    print(f"\nscaling: match route, wrk c={args.match_connections}, medians of {args.rounds}:")
    base_rps = None
    for workers in args.workers:
        server = H.Server(H.server_env(data_dir, port, workers=workers))
        try:
            wrk(server.base, match_paths, key, 3, args.match_connections)  # warm-up
            before = statuses(server.base)
            runs = [
                wrk(server.base, match_paths, key, args.seconds, args.match_connections)
                for _ in range(args.rounds)
            ]
            answered = statuses(server.base) - before
        finally:
            server.stop()
        med = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_us", "p99_us")}
        shed = sum(n for s, n in answered.items() if s in ("503", "429"))
        errors = sum(n for s, n in answered.items() if not s.startswith("2")) - shed
        socket_errors = sum(r["socket_errors"] for r in runs)
        base_rps = base_rps or med["rps"]
        print(
            f"{workers} worker(s): {med['rps']:7.1f} req/s ({med['rps'] / base_rps:.2f} x 1 "
            f"worker)  p50 {med['p50_us'] / 1000:7.1f} ms  p99 {med['p99_us'] / 1000:7.1f} ms  "
            f"shed {shed}  errors {errors}  socket errors {socket_errors}  "
            f"(statuses {dict(answered)}; per round: "
            f"{', '.join(str(round(r['rps'], 1)) for r in runs)})",
            flush=True,
        )


def _cap(cap: int | None) -> dict[str, object]:
    """JOBMATCH_MAX_IN_FLIGHT for a run; None leaves the service's default."""
    return {} if cap is None else {"max_in_flight": cap}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postings", type=int, default=1000)
    parser.add_argument("--seekers", type=int, default=50)
    parser.add_argument(
        "--workers",
        type=lambda v: [int(w) for w in v.split(",")],
        default=[2],
        help="workers per server; several (1,2,4): the scaling run (see the module)",
    )
    parser.add_argument("--seconds", type=int, default=15, help="per closed-loop measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32, help="wrk, reads and ceiling")
    parser.add_argument("--match-connections", type=int, default=8)
    parser.add_argument("--overload", type=float, default=2.0)
    parser.add_argument("--open-seconds", type=float, default=20.0)
    parser.add_argument(
        "--caps",
        default="default,0",
        help="JOBMATCH_MAX_IN_FLIGHT values to try ('default': the service's; '': none)",
    )
    args = parser.parse_args()

    from service.kit.embedded_db import start_embedded

    random.seed(1)
    print(f"machine: {H.machine()}")
    print(
        f"data: {args.postings} postings, {args.seekers} seekers; {args.workers} workers per "
        f"server; wrk -t2, {args.seconds} s per measurement, {args.rounds} rounds",
        flush=True,
    )
    data_dir = H.make_data_dir()
    port, bare_port = H.free_port(), H.free_port()
    # "" = closed loop only; "default" = the service's own default (twice the pool)
    caps = [None if c == "default" else int(c) for c in args.caps.split(",") if c.strip()]
    env = H.server_env(data_dir, port, workers=args.workers[0], **_cap(caps[0] if caps else None))
    server = H.Server(env)
    bare = None
    try:
        db_url = start_embedded(data_dir)
        admin = H.create_agency(env, "Bench agency")
        key = H.create_key(server.base, admin, "portal")
        match_paths = import_generated(server.base, key, args.postings, args.seekers)
        posting_paths = [f"/v1/postings/{i}" for i in ids(server.base, key, "posting")]
        if len(args.workers) > 1:
            server.stop()
            scaling(args, data_dir, port, key, match_paths)
            return

        bare_env = {**os.environ, "BENCH_DATABASE_URL": db_url}
        bare = subprocess.Popen(
            [
                *(str(H.BIN / "uvicorn"), "bench.bench_http:make_bare_app", "--factory"),
                *("--port", str(bare_port), "--workers", str(args.workers[0])),
                *("--log-level", "warning", "--no-access-log"),
            ],
            env=bare_env,
            cwd=ROOT,
        )
        bare_base = f"http://127.0.0.1:{bare_port}"
        H.wait_ready(bare_base, time.perf_counter(), 60, bare, path="/v1/ping")

        # warm-up: every process connects, compiles, caches
        wrk(bare_base, ["/v1/ping"], key, 3, args.connections)
        wrk(server.base, posting_paths, key, 3, args.connections)
        wrk(server.base, match_paths, key, 3, args.match_connections)
        runs: dict[str, list[dict[str, Any]]] = {"ceiling": [], "posting": [], "match": []}
        for _ in range(args.rounds):
            runs["ceiling"].append(
                wrk(bare_base, ["/v1/ping"], key, args.seconds, args.connections)
            )
            runs["posting"].append(
                wrk(server.base, posting_paths, key, args.seconds, args.connections)
            )
            runs["match"].append(
                wrk(server.base, match_paths, key, args.seconds, args.match_connections)
            )
        print("\nclosed loop (wrk), medians:")
        ceiling = show(f"ceiling: bare SELECT 1 (c={args.connections})", runs["ceiling"])
        posting = show(f"GET /v1/postings/{{id}} (c={args.connections})", runs["posting"])
        match = show(f"GET seeker matches (c={args.match_connections})", runs["match"])
        print(f"posting read / ceiling: {posting['rps'] / ceiling['rps']:.0%} (target >= 50%)")

        rate = args.overload * match["rps"]
        print(f"\nopen loop on the match route at {rate:.1f} req/s for {args.open_seconds:.0f} s:")
        for n, cap in enumerate(caps):
            if n:
                server.stop()
                env = H.server_env(data_dir, port, workers=args.workers[0], **_cap(cap))
                server = H.Server(env)
                wrk(server.base, match_paths, key, 3, args.match_connections)  # warm-up
            result = asyncio.run(open_loop(server.base, match_paths, key, rate, args.open_seconds))
            name = "default" if cap is None else cap
            print(f"JOBMATCH_MAX_IN_FLIGHT={name}: {json.dumps(result)}", flush=True)
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait()
        server.stop()
        H.remove_data_dir(data_dir)


if __name__ == "__main__":
    main()
