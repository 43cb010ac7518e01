"""Benchmark the match routes at national scale, against an exact numpy scan in the same run.

Run from the repository root (HF_HUB_OFFLINE=1 is set here; the model is bundled):

    python bench/bench_matching.py                      # 10k and 100k postings and seekers
    python bench/bench_matching.py --sizes 10000 100000 1000000 --queries 200

What it does, per size N (each in a database of its own on one embedded PostgreSQL):

1. Base data: `--base` generated postings and seekers (seed/generate.py) go through the real
   bulk-import route, so they are validated, embedded with all-MiniLM-L6-v2 and stored exactly as
   in production.
2. Scale-up: the base rows are copied in SQL up to N postings and N seekers. Each copy gets its
   own id and external id, its location moved by up to ~10 km, and its vector = the base vector
   plus Gaussian noise (sigma `--noise`, then re-normalised): real embeddings of a few thousand
   texts plus small noise. Protected data is copied with the seekers. The HNSW indexes are
   rebuilt after loading, as after a bulk load in production.
3. Jobs for a seeker: `GET /v1/seekers/{id}/matches?limit=20` in-process (ASGI, no network):
   retrieval, features, scoring, persisting the list and the audit row. p50/p99 over
   `--queries` seekers after a warm-up, once the process has warmed its posting cache as a
   serving process does after start-up (`--cold`: without that, requests fill it).
4. Candidates for a posting: `GET /v1/postings/{id}/matches?limit=20` with a FA*IR policy on
   gender (p = 0.5, alpha = 0.1), same figures.
5. Baseline: the exact scan over the same N vectors in numpy (float32 matrix-vector product
   and top-100 selection), the memory-bandwidth floor of any exact search.
6. Recall@100 of the service's candidate query (HNSW with its filters) against the same query
   run as an exact scan in PostgreSQL (index scans disabled), so both see the same filters.

Prints a markdown table and, unless --no-write, writes bench/results_matching.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import asyncpg
import httpx
import numpy as np
import orjson
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from service.auth import repository as agencies  # noqa: E402
from service.auth.permissions import Role  # noqa: E402
from service.config import Settings  # noqa: E402
from service.kit import migrate  # noqa: E402
from service.kit.embedded_db import start_embedded  # noqa: E402
from service.match_lists import candidates_repository as match_db  # noqa: E402
from service.match_lists import retrieval as candidate_retrieval  # noqa: E402

RESULTS = ROOT / "bench" / "results_matching.md"
K_RECALL = 100


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def as_array(vector: Any) -> np.ndarray:
    """A pgvector value (Vector or ndarray, by pgvector version) as float32."""
    return np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, np.float32)


# ----------------------------------------------------------------------------- data loading


def database_url(server_url: str, name: str) -> str:
    head, _, query = server_url.partition("?")
    return head.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")


async def ensure_database(server_url: str, name: str, template: str | None = None) -> str:
    """The database `name` (a copy of `template` when it is created), migrated to head.
    Kept between runs, so that a second run skips the import and the scale-up."""
    conn = await asyncpg.connect(server_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            copy = f' TEMPLATE "{template}"' if template else ""
            await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    url = database_url(server_url, name)
    await asyncio.to_thread(migrate.upgrade, url)
    return url


def _records(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "posting_records", False))


@contextlib.asynccontextmanager
async def running_app(url: str, args: argparse.Namespace, embedder: Any) -> Any:
    """The service in-process on `url`, a client for it, and fresh keys of the bench agency."""
    from asgi_lifespan import LifespanManager

    from service.app import create_app

    settings = Settings(
        database_url=url,
        data_dir=Path(args.workdir),
        rate_limit_per_minute=0,
        bulk_wait_seconds=3600,
        bulk_sync_max_records=2000,  # each upload of 2,000 answers when it is stored
        job_poll_seconds=0.2,
        log_level="WARNING",
        warm_posting_profiles=getattr(args, "warm", True),
        posting_vectors_in_memory=getattr(args, "vectors_in_memory", 0),
        # As a worker of several: the vectors and the converted postings from the snapshot's
        # files, which this process writes (it holds the writer's lock) and maps.
        **({"workers": 2, "share_posting_vectors": True} if _records(args) else {}),
    )
    app = create_app(settings, embedder=embedder)
    # start-up reads the gazetteer and the ESCO understanding (seconds, more than the default 5)
    async with LifespanManager(app, startup_timeout=600, shutdown_timeout=120):
        pool = app.state.jobmatch.pool
        async with pool.acquire() as conn:
            agency = await agencies.get_agency_by_name(conn, name="bench")
            if agency is None:
                agency = await agencies.create_agency(conn, name="bench")
            await conn.execute("DELETE FROM api_key WHERE agency_id = $1", agency.id)
            keys = {
                role: {
                    "Authorization": "Bearer "
                    + (
                        await agencies.create_api_key(
                            conn, agency_id=agency.id, role=role, name=role.value
                        )
                    ).secret
                }
                for role in Role
            }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield app, settings, pool, agency, keys, client


@contextlib.asynccontextmanager
async def served_database(workdir: str, n: int, seekers: int) -> Any:
    """The service in-process on `bench_<n>` (built by this script in `workdir`) as served: the
    posting vectors and profiles in memory, warmed. Yields the app's state, a client, a portal
    key's headers and the ids of the first `seekers` seekers with personalised ranking."""
    from matching.embed import SentenceTransformerEmbedder
    from service.kit.embedded_db import start_embedded

    options = argparse.Namespace(
        workdir=workdir, warm=True, vectors_in_memory=Settings().posting_vectors_in_memory
    )
    url = database_url(start_embedded(Path(workdir)), f"bench_{n}")
    # this script's vectors are made with MiniLM
    async with running_app(url, options, SentenceTransformerEmbedder()) as (
        app,
        _,
        pool,
        _,
        keys,
        client,
    ):
        state = app.state.jobmatch
        if state.warming is not None:
            await state.warming
        async with pool.acquire() as conn:
            ids = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM seeker WHERE personalised_ranking ORDER BY id LIMIT $1",
                    seekers,
                )
            ]
        yield state, client, keys[Role.portal], ids


async def import_base(client: httpx.AsyncClient, headers: dict[str, str], base: int) -> None:
    from seed.generate import generate_postings, generate_seekers

    future = (dt.date.today() + dt.timedelta(days=365)).isoformat() + "T00:00:00Z"
    postings = generate_postings(base, seed=7)
    for p in postings:
        p["valid_through"] = future  # every posting stays active during the run
    seekers = generate_seekers(base, seed=11)
    for kind, rows in (("postings", postings), ("seekers", seekers)):
        for start in range(0, len(rows), 2000):
            chunk = rows[start : start + 2000]
            t0 = time.perf_counter()
            r = await client.post(
                f"/v1/{kind}:bulk",
                content=b"\n".join(orjson.dumps(x) for x in chunk),
                headers={**headers, "Content-Type": "application/x-ndjson"},
            )
            body = r.json()
            if r.status_code != 200 or body.get("failed"):
                raise SystemExit(f"bulk import failed: {r.status_code} {str(body)[:500]}")
            log(f"  imported {len(chunk)} {kind} in {time.perf_counter() - t0:.1f} s")


async def scale_up(
    conn: asyncpg.Connection, kind: str, n: int, noise: float, seed: int, *, indexes: bool = True
) -> None:
    """Copies the base rows of `kind` up to n rows, with moved locations and noisy vectors;
    the HNSW indexes are rebuilt after, unless not `indexes` (they are left dropped)."""
    rng = np.random.default_rng(seed)
    await conn.execute("SET statement_timeout = 0")  # index builds take minutes
    base = await conn.fetch(
        f"SELECT r.id, r.agency_id, r.external_id, r.lat, r.lon, e.model, e.embedding "
        f"FROM {kind} r JOIN {kind}_embedding e ON e.{kind}_id = r.id ORDER BY r.external_id"
    )
    have = len(base)
    if n <= have:
        return
    extra = n - have
    # Loading without the vector indexes, then building them, as after a bulk load.
    hnsw = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1 AND indexdef ~ 'hnsw'",
        f"{kind}_embedding",
    )
    for ix in hnsw:
        await conn.execute(f"DROP INDEX {ix['indexname']}")
    done = 0
    while done < extra:
        batch = min(20_000, extra - done)
        src = rng.integers(0, have, size=batch)
        ids = [uuid4() for _ in range(batch)]
        moves = rng.uniform(-0.09, 0.09, size=(batch, 2))  # about 10 km
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS copy_map (src uuid, id uuid, "
            "n integer, dlat float8, dlon float8)"
        )
        await conn.execute("TRUNCATE copy_map")
        await conn.copy_records_to_table(
            "copy_map",
            records=[
                (base[s]["id"], ids[i], done + i, float(moves[i, 0]), float(moves[i, 1]))
                for i, s in enumerate(src)
            ],
        )
        cols = ["remote_allowed", "valid_through"]
        if kind == "seeker":
            cols = ["max_distance_km", "personalised_ranking"]
        await conn.execute(
            f"INSERT INTO {kind} (id, agency_id, external_id, profile, lat, lon, "
            f"{', '.join(cols)}) "
            f"SELECT m.id, r.agency_id, r.external_id || '~' || m.n, r.profile, "
            f"r.lat + m.dlat, r.lon + m.dlon, {', '.join('r.' + c for c in cols)} "
            f"FROM copy_map m JOIN {kind} r ON r.id = m.src"
        )
        if kind == "seeker":
            await conn.execute(
                "INSERT INTO seeker_protected (seeker_id, agency_id, consent, gender, age_band, "
                "disability, migrant_background) SELECT m.id, p.agency_id, p.consent, p.gender, "
                "p.age_band, p.disability, p.migrant_background "
                "FROM copy_map m JOIN seeker_protected p ON p.seeker_id = m.src"
            )
        vectors = np.stack([as_array(base[s]["embedding"]) for s in src])
        vectors += rng.normal(0.0, noise, size=vectors.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        await conn.copy_records_to_table(
            f"{kind}_embedding",
            columns=[f"{kind}_id", "agency_id", "model", "embedding"],
            records=[
                (ids[i], base[s]["agency_id"], base[s]["model"], vectors[i])
                for i, s in enumerate(src)
            ],
        )
        done += batch
    if not indexes:
        log(f"  {kind}: {n} rows; no HNSW index (--seeker-route-only)")
        return
    log(f"  {kind}: {n} rows; building the HNSW index")
    t0 = time.perf_counter()
    # The graph must fit in memory or the build slows down many times (about 4 KB a vector).
    await conn.execute(f"SET maintenance_work_mem = '{max(2048, n * 4 // 1024)}MB'")
    for ix in hnsw:
        await conn.execute(ix["indexdef"], timeout=3600)
    await conn.execute(f"ANALYZE {kind}; ANALYZE {kind}_embedding", timeout=3600)
    await conn.execute("RESET ALL")  # the pool does not reset sessions (service/kit/pool.py)
    log(f"  {kind}: index built in {time.perf_counter() - t0:.0f} s")


# ------------------------------------------------------------------------------ measuring


async def timed_get_ms(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> float:
    """One GET's time in ms; anything but 200 stops the benchmark, saying why."""
    started = time.perf_counter()
    r = await client.get(path, headers=headers)
    elapsed = time.perf_counter() - started
    if r.status_code != 200:
        raise SystemExit(f"{path}: {r.status_code}: {r.text[:300]}")
    return elapsed * 1000


async def timed_gets(
    client: httpx.AsyncClient, paths: list[str], headers: dict[str, str], warmup: int
) -> tuple[list[float], int]:
    times: list[float] = []
    errors = 0
    for i, path in enumerate(paths):
        t0 = time.perf_counter()
        r = await client.get(path, headers=headers)
        elapsed = time.perf_counter() - t0
        if r.status_code != 200:
            errors += 1
            if errors <= 3:
                log(f"  {path}: {r.status_code} {r.text[:300]}")
        if i >= warmup:
            times.append(elapsed * 1000)
    return times, errors


def numpy_scan_ms(vectors: np.ndarray, queries: np.ndarray, runs: int) -> float:
    """Median time of one exact top-100 search over `vectors` (float32, normalised), with
    numpy's BLAS on one thread and on every core, alternating: the faster of the two (the
    service runs BLAS on one thread, service/posting_vectors.py; the baseline gets its best)."""
    times: dict[int, list[float]] = {1: [], os.cpu_count() or 1: []}
    for i in range(runs):
        q = queries[i % len(queries)]
        for threads, out in times.items():
            with threadpool_limits(threads, user_api="blas"):
                t0 = time.perf_counter()
                sims = vectors @ q
                top = np.argpartition(-sims, K_RECALL)[:K_RECALL]
                top[np.argsort(-sims[top])]
                out.append(time.perf_counter() - t0)
    return min(statistics.median(t) for t in times.values()) * 1000


async def recall_at_k(
    state: Any, conn: asyncpg.Connection, agency_id: UUID, seekers: list[asyncpg.Record], model: str
) -> dict[str, float]:
    """Recall@100 of the posting retrieval against the same query run as an exact scan (index
    scans disabled): as the service runs it (`candidate_retrieval.retrieve_postings`: in memory when
    the vectors are held there, else the database's exact plan or HNSW) and of the HNSW plan
    alone; with the median times (ms)."""
    service, hnsw, service_ms, hnsw_ms, exact_plans = [], [], [], [], 0
    for s in seekers:
        args: dict[str, Any] = {
            "agency_id": agency_id,
            "model": model,
            "lat": s["lat"],
            "lon": s["lon"],
            "radius_km": s["radius"],
        }
        t0 = time.perf_counter()
        query = as_array(s["embedding"])
        vectors = await candidate_retrieval.searchable_vectors(state, conn, model)
        chosen, exact = await candidate_retrieval.retrieve_postings(
            state, conn, vectors, **args, query=query, limit=K_RECALL, enough=K_RECALL
        )
        exact_plans += exact
        service_ms.append(time.perf_counter() - t0)
        args |= {"query": query, "limit": K_RECALL}
        t0 = time.perf_counter()
        ann = await match_db.posting_candidates(conn, exact=False, **args)
        hnsw_ms.append(time.perf_counter() - t0)
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_indexscan = off")
            await conn.execute("SET LOCAL enable_bitmapscan = off")
            truth = {c.id for c in await match_db.posting_candidates(conn, exact=False, **args)}
        if truth:
            service.append(len(truth & {c.id for c in chosen}) / len(truth))
            hnsw.append(len(truth & {c.id for c in ann}) / len(truth))
    return {
        "recall": statistics.mean(service),
        "recall_hnsw": statistics.mean(hnsw),
        "recall_min": min(service),
        "query_ms": statistics.median(service_ms) * 1000,
        "hnsw_ms": statistics.median(hnsw_ms) * 1000,
        "exact_share": exact_plans / len(seekers),
    }


async def bench_size(
    server_url: str, n: int, args: argparse.Namespace, embedder: Any
) -> dict[str, Any]:
    url = await ensure_database(server_url, f"bench_{n}", template="bench_base")
    out: dict[str, Any] = {"n": n}
    async with running_app(url, args, embedder) as (app, settings, pool, agency, keys, client):
        portal, admin = keys[Role.portal], keys[Role.admin]
        async with pool.acquire() as conn:
            for i, kind in enumerate(("posting", "seeker")):
                have = await conn.fetchval(f"SELECT count(*) FROM {kind}")
                if have < n:
                    log(f"N={n}: scaling {kind}s from {have} to {n}")
                    await scale_up(
                        conn, kind, n, args.noise, seed=100 + i, indexes=not args.seeker_only
                    )
            await conn.execute("SET statement_timeout = 0")
            await conn.execute("VACUUM ANALYZE", timeout=3600)
            await conn.execute("RESET statement_timeout")
        r = await client.put(
            "/v1/fairness-policy",
            json={
                "method": "fa_ir",
                "attributes": ["gender"],
                "protected_groups": ["female"],
                "p": 0.5,
                "alpha": 0.1,
            },
            headers=admin,
        )
        if r.status_code != 200:
            raise SystemExit(f"policy: {r.status_code} {r.text}")
        state = app.state.jobmatch
        if state.warming is not None:
            # As a serving process is once it has warmed: postings converted in memory.
            await state.warming
            if not _records(args):
                await candidate_retrieval.warm_posting_profiles(state)  # tops up after a scale-up
        out["cached_postings"] = len(state.posting_profiles)
        vectors = state.posting_vectors
        out["records"] = len(vectors.postings) if vectors and vectors.postings else 0
        rnd = random.Random(5)
        async with pool.acquire() as conn:
            model = await conn.fetchval("SELECT model FROM posting_embedding LIMIT 1")
            seeker_rows = await conn.fetch(
                "SELECT r.id, r.lat, r.lon, coalesce(r.max_distance_km, $2) AS radius, "
                "e.embedding FROM seeker r JOIN seeker_embedding e ON e.seeker_id = r.id "
                "WHERE r.personalised_ranking AND e.model = $1 "
                "ORDER BY r.id LIMIT 2000",
                model,
                settings.default_seeker_radius_km,
            )
            posting_ids = [
                r["id"] for r in await conn.fetch("SELECT id FROM posting ORDER BY id LIMIT 2000")
            ]
            post_vectors = np.stack(
                [
                    as_array(r["embedding"])
                    for r in await conn.fetch("SELECT embedding FROM posting_embedding")
                ]
            )
        seekers = rnd.sample(list(seeker_rows), args.queries + args.warmup)
        postings = rnd.sample(posting_ids, args.queries + args.warmup)
        log(f"N={n}: timing {args.queries} seeker match requests")
        s_times, s_err = await timed_gets(
            client,
            [f"/v1/seekers/{s['id']}/matches?limit=20" for s in seekers],
            portal,
            args.warmup,
        )
        cache = app.state.jobmatch.posting_profiles  # converted postings kept in memory
        shared = vectors.postings if vectors is not None else None  # or in the snapshot's files
        from_memory = cache.hits + (shared.hits if shared is not None else 0)
        out["cache_hits"] = from_memory / max(1, cache.hits + cache.misses)
        p_times, p_err = [math.nan], 0
        if not args.seeker_only:
            log(f"N={n}: timing {args.queries} posting match requests (FA*IR on)")
            p_times, p_err = await timed_gets(
                client,
                [f"/v1/postings/{p}/matches?limit=20" for p in postings],
                portal,
                args.warmup,
            )
        log(f"N={n}: recall@{K_RECALL} and numpy baseline")
        async with pool.acquire() as conn:
            out["retrieval"] = "memory" if vectors is not None and vectors.ready else "database"
            retrieval = await recall_at_k(
                state, conn, agency.id, seekers[: args.recall_queries], model
            )
        queries = np.stack([as_array(s["embedding"]) for s in seekers])
        scan_ms = numpy_scan_ms(post_vectors, queries, runs=args.queries)
    out.update(
        seeker_p50=pct(s_times, 50),
        seeker_p99=pct(s_times, 99),
        seeker_errors=s_err,
        posting_p50=pct(p_times, 50),
        posting_p99=pct(p_times, 99),
        posting_errors=p_err,
        scan_ms=scan_ms,
        **retrieval,
    )
    log(f"N={n}: {out}")
    return out


def render(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        "# Matching benchmark",
        "",
        f"Command: `python bench/bench_matching.py --sizes {' '.join(map(str, args.sizes))} "
        f"--queries {args.queries} --vectors-in-memory {args.vectors_in_memory}"
        f"{'' if args.warm else ' --cold'}{' --seeker-route-only' if args.seeker_only else ''}"
        f"{' --posting-records' if args.posting_records else ''}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.  ",
        f"Data: {args.base} generated postings and seekers embedded with all-MiniLM-L6-v2, "
        f"copied up to N with vector noise sigma={args.noise} and locations moved up to ~10 km; "
        f"N postings and N seekers in one agency. Latencies are in-process (ASGI, no network), "
        f"{args.queries} requests after {args.warmup} warm-up, limit=20.",
        "",
        "| N | seeker matches p50 / p99 (ms) | exact numpy scan (ms) | p50 / scan | "
        "retrieval | retrieval alone (ms) | recall@100 (min) | HNSW only: recall@100, ms | "
        "exact plan share | posting profiles from memory | "
        "posting matches, FA*IR, p50 / p99 (ms) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['n']:,} | {r['seeker_p50']:.1f} / {r['seeker_p99']:.1f} | "
            f"{r['scan_ms']:.1f} | {r['seeker_p50'] / r['scan_ms']:.2f} | "
            f"{r['retrieval']} | {r['query_ms']:.1f} | {r['recall']:.3f} ({r['recall_min']:.2f}) | "
            f"{r['recall_hnsw']:.3f}, {r['hnsw_ms']:.1f} | {r['exact_share']:.0%} | "
            f"{r['cache_hits']:.0%} ({r['cached_postings']:,} held"
            f"{'; records of ' + format(r['records'], ',') if r['records'] else ''}) | "
            f"{r['posting_p50']:.1f} / {r['posting_p99']:.1f} | "
            f"{r['seeker_errors'] + r['posting_errors']} |"
        )
    if len(results) >= 2:
        a, b = results[0], results[-1]
        lines += [
            "",
            f"Growth from {a['n']:,} to {b['n']:,} ({b['n'] / a['n']:.0f}x data): seeker p50 "
            f"x{b['seeker_p50'] / a['seeker_p50']:.2f}, posting p50 "
            f"x{b['posting_p50'] / a['posting_p50']:.2f}, numpy scan "
            f"x{b['scan_ms'] / a['scan_ms']:.2f}.",
        ]
    return "\n".join(lines) + "\n"


async def amain(args: argparse.Namespace) -> None:
    from matching.embed import SentenceTransformerEmbedder

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    workdir.chmod(0o755)  # noqa: ASYNC240  (PostgreSQL runs as another user when root)
    server_url = start_embedded(workdir)
    conn = await asyncpg.connect(server_url)
    await conn.close()
    embedder = SentenceTransformerEmbedder()
    url = await ensure_database(server_url, "bench_base")
    async with running_app(url, args, embedder) as (_, _, pool, _, keys, client):
        have = await pool.fetchval("SELECT count(*) FROM posting")
    if have == 0:
        log(f"importing {args.base} generated postings and seekers (real embeddings)")
        async with running_app(url, args, embedder) as (_, _, pool, _, keys, client):
            await import_base(client, keys[Role.portal], args.base)
    results = [await bench_size(server_url, n, args, embedder) for n in args.sizes]
    text = render(results, args)
    print(text)
    if args.write:
        RESULTS.write_text(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--base", type=int, default=2000, help="generated records per kind")
    p.add_argument("--noise", type=float, default=0.02)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--recall-queries", type=int, default=50)
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "jobmatch-bench"))
    p.add_argument("--no-write", dest="write", action="store_false")
    p.add_argument(
        "--vectors-in-memory",
        type=int,
        default=Settings.model_fields["posting_vectors_in_memory"].default,
        help="JOBMATCH_POSTING_VECTORS_IN_MEMORY for the run (0: retrieval searches the "
        "database's indexes)",
    )
    p.add_argument(
        "--seeker-route-only",
        dest="seeker_only",
        action="store_true",
        help="no HNSW indexes built after the scale-up (the longest part of loading 1M) and no "
        "posting route: for the seeker route with the posting vectors in memory; the 'HNSW "
        "only' column is then an exact scan",
    )
    p.add_argument(
        "--posting-records",
        action="store_true",
        help="serve as one of several workers does: posting vectors and converted postings "
        "from the shared snapshot's files (written by this process), no private posting cache",
    )
    p.add_argument(
        "--cold",
        dest="warm",
        action="store_false",
        help="no posting-cache warming at start-up (requests fill the cache as they go)",
    )
    args = p.parse_args()
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
