"""Memory of the API processes with 1 and N workers: are the posting vectors held once per
machine (JOBMATCH_SHARE_POSTING_VECTORS, service/embeddings/shared_vectors.py)?

Run from the repository root (one command; the import embeds every posting, so 100k postings
take a while on a small machine):

    .venv/bin/python bench/bench_workers_memory.py --postings 100000 --workers 4
    .venv/bin/python bench/bench_workers_memory.py --postings 5000 --workers 4   # quick

(A first start encodes the ESCO labels for the data directory's cache, minutes on a loaded
machine: point JOBMATCH_CACHE_DIR at an existing cache to skip that.)

What it does:

1. starts `jobmatch serve` (embedded PostgreSQL in a temporary directory) and bulk-imports
   generated postings and a few seekers through the API;
2. serves them with 1 worker; with N pre-forked workers sharing the vectors (the defaults:
   JOBMATCH_PREFORK, JOBMATCH_SHARE_POSTING_VECTORS); with N workers started by uvicorn, each
   a fresh interpreter (JOBMATCH_PREFORK=false), sharing the vectors; and the same each
   holding its own copy (JOBMATCH_SHARE_POSTING_VECTORS=false, the first baseline); in turn:
   waits until every worker holds the vectors (every worker answers lists from memory:
   prometheus' per-process files), sends match requests so every worker has served some,
   then waits for the memory to settle;
3. reads the proportional set size (Pss in /proc/<pid>/smaps_rollup: a page shared by k
   processes counts 1/k in each, so the sum over processes counts it once) of every API process
   (the supervisor, which is the parent the pre-forked workers share pages with, and its
   workers; the embedded PostgreSQL is reported apart, it is the same in every run) and prints
   the sums and the ratios N workers / 1 worker.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import _harness as H  # noqa: E402
from bench.bench_http import import_generated  # noqa: E402
from bench.bench_worker_baseline import by_mapping  # noqa: E402


def pss_kib(pid: int) -> int:
    """0 for a process gone meanwhile (libraries run short-lived helpers: ldconfig...)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    children: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                parent = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(p.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip().startswith("postgres")
    except OSError:
        return False


def memory_retrievals(metrics_dir: Path) -> dict[int, float]:
    from prometheus_client.mmap_dict import MmapedDict

    counts: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.removeprefix("counter_"))
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            _, name, labels, *_ = json.loads(key)
            if name == "jobmatch_retrievals_total" and labels.get("path") == "memory":
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


def measure(
    env: dict[str, str], workers: int, key: str, match_paths: list[str], settle_s: float
) -> dict[str, object]:
    metrics_dir = Path(tempfile.mkdtemp(prefix="jobmatch-bench-metrics-"))
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "JOBMATCH_WORKERS": str(workers)}
    with H.Server(env, timeout=900) as server:

        def one(path: str) -> int:
            with httpx.Client(base_url=server.base, timeout=300) as client:  # a new connection
                r = client.get(path, headers={"Authorization": f"Bearer {key}"})
                return r.status_code

        api = [p for p in tree(server.proc.pid) if not is_postgres(p)]
        # Until every worker answers from memory (the vectors are loaded in each).
        deadline = time.monotonic() + 900
        while True:
            with ThreadPoolExecutor(2 * workers) as pool:
                statuses = list(pool.map(one, random.sample(match_paths, 4 * workers)))
            # 503 / 429: shed while a worker is busy loading (deliberate); anything else fails
            assert all(s in (200, 503, 429) for s in statuses), statuses
            counted = memory_retrievals(metrics_dir)
            answered = [p for p in counted if counted[p] > 0]
            if len(answered) >= workers:
                break
            assert time.monotonic() < deadline, f"only {answered} answer from memory"
            time.sleep(1)
        # Every worker serves for a while, then the memory settles (profile cache warming).
        with ThreadPoolExecutor(2 * workers) as pool:
            list(pool.map(one, match_paths * max(1, 8 * workers // len(match_paths) + 1)))
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < settle_s:
            api = [p for p in tree(server.proc.pid) if not is_postgres(p)]
            total = sum(pss_kib(p) for p in api)
            if abs(total - last) > 0.01 * max(last, 1):
                last, stable_since = total, time.monotonic()
            time.sleep(2)
        api = [p for p in tree(server.proc.pid) if not is_postgres(p)]
        pg = [p for p in tree(server.proc.pid) if is_postgres(p)]
        per_process = {p: kib for p in api if (kib := pss_kib(p))}
        # Where the memory of the biggest process is: private (its own) or shared, by mapping.
        biggest = max(per_process, key=per_process.__getitem__)
        mappings = {
            name: [round(rss / 1024), round(private / 1024)]
            for name, rss, private in by_mapping(biggest)[:4]
        }
        result = {
            "workers": workers,
            "share": env.get("JOBMATCH_SHARE_POSTING_VECTORS", "true"),
            "prefork": env.get("JOBMATCH_PREFORK", "true"),
            "api_pss_mib": sum(per_process.values()) / 1024,
            "per_process_mib": sorted(round(v / 1024) for v in per_process.values()),
            "postgres_pss_mib": sum(pss_kib(p) for p in pg) / 1024 if pg else None,
            "biggest_rss_private_mib_by_mapping": mappings,
        }
    shutil.rmtree(metrics_dir, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postings", type=int, default=100_000)
    parser.add_argument("--seekers", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--settle-seconds", type=float, default=20.0)
    parser.add_argument(
        "--skip-private", action="store_true", help="leave out the private-copies baseline"
    )
    parser.add_argument(
        "--skip-spawned",
        action="store_true",
        help="leave out the workers started by uvicorn (JOBMATCH_PREFORK=false)",
    )
    parser.add_argument(
        "--keep-data",
        type=Path,
        help="a data directory to keep (and reuse in the next run: the import is done once)",
    )
    args = parser.parse_args()
    random.seed(1)
    print(f"machine: {H.machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"data: {args.postings} postings; 1 vs {args.workers} workers", flush=True)
    data_dir = args.keep_data or H.make_data_dir()
    data_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    port = H.free_port()
    env = H.server_env(data_dir, port, posting_vectors_in_memory=max(150_000, 2 * args.postings))
    imported = data_dir / f"bench-workers-memory-{args.postings}-{args.seekers}.json"
    try:
        if imported.is_file():  # the same data, kept by an earlier run
            key, match_paths = json.loads(imported.read_text())
            print(f"data from {data_dir}", flush=True)
        else:
            with H.Server(env, timeout=900) as server:
                admin = H.create_agency(env, "Bench agency")
                key = H.create_key(server.base, admin, "portal")
                match_paths = import_generated(server.base, key, args.postings, args.seekers)
            imported.write_text(json.dumps([key, match_paths]))
        one = measure(env, 1, key, match_paths, args.settle_seconds)
        runs = {}
        for name, settings in (
            ("pre-forked, shared vectors", {}),
            ("spawned, shared vectors", {"JOBMATCH_PREFORK": "false"}),
            (
                "spawned, private copies",
                {"JOBMATCH_PREFORK": "false", "JOBMATCH_SHARE_POSTING_VECTORS": "false"},
            ),
        ):
            if name.endswith("private copies") and args.skip_private:
                continue
            if name.startswith("spawned") and args.skip_spawned:
                continue
            runs[name] = measure(
                {**env, **settings}, args.workers, key, match_paths, args.settle_seconds
            )
        base = float(one["api_pss_mib"])  # type: ignore[arg-type]
        print(f"1 worker: {base:,.0f} MiB")
        for name, run in runs.items():
            total = float(run["api_pss_mib"])  # type: ignore[arg-type]
            print(f"{args.workers} workers, {name}: {total:,.0f} MiB, {total / base:.2f} x")
    finally:
        if not args.keep_data:
            H.remove_data_dir(data_dir)


if __name__ == "__main__":
    main()
