"""The in-memory posting search alone (matching/vector_index.py) at 100k and 1M postings:
inverted lists against the cell slices (with their first pass in 64 principal components)
and an exact numpy scan, on the same table, in the same run.

    python bench/bench_vector_index.py --sizes 100000 1000000 --queries 200

Data, made like bench_matching.py's: `--base` generated postings and seekers (seed/generate.py),
embedded with the bundled all-MiniLM-L6-v2 (title, occupation, skills and description; cached
in `--workdir`); N postings are copies of the base postings, each moved by up to ~10 km, its
vector the base vector plus Gaussian noise (sigma `--noise`, re-normalised). Queries: base
seekers' vectors plus the same noise, at their place and with their `max_distance_km`.

Per size, one table is built with inverted lists (`lists_from` = N) and searched
- with its lists (the new path), - with its lists set aside (the slices and the reduced
first pass, as before), - by an exact scan (numpy: the filters over every row, then the
product with the rows that pass: the truth for recall@100), and - a plain product with every
vector and top-100 (bench_matching's "numpy scan"). The two scans run first for every query,
then the two index paths alternate, query by query. numpy's BLAS on one thread, as the
service runs it. Memory per posting: the table's arrays (vectors, reduced copy, place, lists)
over its rows; the keys and payloads the service adds are not in this figure.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from matching import vector_index  # noqa: E402
from matching.vector_index import Entry, GeoVectorIndex  # noqa: E402

K = 100
LIST_PARTS = ("coarse", "centroids", "starts", "rows", "place", "group", "valid_until")
ASKED = K + 16  # the service asks for a few more (ties at the cut; posting_vectors.py)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _posting_text(p: dict[str, Any]) -> str:
    parts = [p["title"]]
    if p.get("occupation"):
        parts.append("Occupation: " + p["occupation"]["title"])
    if p.get("skills_required"):
        parts.append("Required skills: " + ", ".join(s["name"] for s in p["skills_required"]))
    parts.append(p.get("description") or "")
    return ". ".join(x for x in parts if x)


def _seeker_text(s: dict[str, Any]) -> str:
    parts = []
    if s.get("desired_occupations"):
        parts.append("Wants to work as " + ", ".join(o["title"] for o in s["desired_occupations"]))
    parts += [s.get("headline") or "", "Skills: " + ", ".join(k["name"] for k in s["skills"])]
    parts.append(s.get("summary") or "")
    return ". ".join(x for x in parts if x)


def base_data(workdir: Path, base: int) -> dict[str, np.ndarray]:
    cache = workdir / f"vector-index-base-{base}.npz"
    if cache.exists():
        return dict(np.load(cache))
    from matching.embed import SentenceTransformerEmbedder
    from seed.generate import generate_postings, generate_seekers

    postings, seekers = generate_postings(base, seed=7), generate_seekers(base, seed=11)
    embedder = SentenceTransformerEmbedder()
    t0 = time.perf_counter()
    data = {
        "p_vec": embedder.encode([_posting_text(p) for p in postings]),
        "p_lat": np.array([p["job_location"]["lat"] for p in postings]),
        "p_lon": np.array([p["job_location"]["lon"] for p in postings]),
        "p_remote": np.array([bool(p.get("remote_allowed")) for p in postings]),
        "s_vec": embedder.encode([_seeker_text(s) for s in seekers]),
        # seekers without a place are left out of the queries (NaN)
        "s_lat": np.array([(s.get("location") or {}).get("lat", np.nan) for s in seekers]),
        "s_lon": np.array([(s.get("location") or {}).get("lon", np.nan) for s in seekers]),
        "s_radius": np.array([float(s.get("max_distance_km") or 25) for s in seekers]),
    }
    log(f"embedded {2 * base} texts in {time.perf_counter() - t0:.0f} s")
    workdir.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **data)  # type: ignore[arg-type]
    return data


def noisy(vectors: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    out = vectors + rng.normal(0.0, noise, size=vectors.shape).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def table_bytes(index: GeoVectorIndex) -> int:
    t = index._table
    n = t.n
    total = sum(getattr(t, name)[:n].nbytes for name in vector_index._COLUMNS)
    if t.lists is not None:
        total += sum(getattr(t.lists, part).nbytes for part in LIST_PARTS)
    return total


def run_size(n: int, data: dict[str, np.ndarray], args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(n)
    src = rng.integers(0, len(data["p_vec"]), size=n)
    vectors = np.empty((n, data["p_vec"].shape[1]), np.float32)
    for start in range(0, n, 100_000):
        part = src[start : start + 100_000]
        vectors[start : start + len(part)] = noisy(data["p_vec"][part], args.noise, rng)
    moves = rng.uniform(-0.09, 0.09, size=(n, 2))
    lat = data["p_lat"][src] + moves[:, 0]
    lon = data["p_lon"][src] + moves[:, 1]
    remote = data["p_remote"][src]
    log(f"{n}: data made; building the index")
    index = GeoVectorIndex(vectors.shape[1], lists_from=n)
    t0 = time.perf_counter()
    index.upsert(
        (
            Entry(i, "a", vectors[i], float(lat[i]), float(lon[i]), bool(remote[i]), math.inf)
            for i in range(n)
        ),
        resort=False,
    )
    appended = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.resort(0.0)
    build = time.perf_counter() - t0
    lists = index._table.lists
    assert lists is not None
    t0 = time.perf_counter()
    index._table.compacted(0.0, 0)  # the same re-sort without lists, for the build's cost
    build_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    index._table.compacted(0.0, n)  # a re-sort that keeps the lists' centroids: regrouped only
    regroup = time.perf_counter() - t0
    log(
        f"{n}: appended in {appended:.1f} s, sorted with lists in {build:.1f} s "
        f"(without {build_plain:.1f} s), {len(lists.starts) - 1} lists"
    )

    located = np.flatnonzero(~np.isnan(data["s_lat"]))
    pick = np.random.default_rng(1).choice(located, args.queries, replace=False)
    queries = noisy(data["s_vec"][pick], args.noise, np.random.default_rng(2))
    places = [
        (float(data["s_lat"][i]), float(data["s_lon"][i]), float(data["s_radius"][i])) for i in pick
    ]
    xyz = vector_index._unit_xyz(lat, lon)

    def truth(q: np.ndarray, la: float, lo: float, radius: float) -> set[int]:
        where = vector_index._unit_xyz(np.array(la), np.array(lo))
        ok = remote | (xyz @ where >= math.cos(radius / vector_index.EARTH_RADIUS_KM))
        rows = np.flatnonzero(ok)
        s = vectors[rows] @ q
        return set(rows[np.argpartition(-s, K - 1)[:K]].tolist()) if len(rows) > K else set(rows)

    def searched(q: np.ndarray, la: float, lo: float, radius: float) -> list[int]:
        found = index.nearest(q, group="a", lat=la, lon=lo, radius_km=radius, now=1.0, limit=ASKED)
        return [int(k) for k, _ in found[:K]]  # type: ignore[call-overload]

    times: dict[str, list[float]] = {"lists": [], "slices": [], "exact": [], "scan": []}
    recall: dict[str, list[float]] = {"lists": [], "slices": []}
    with threadpool_limits(1, user_api="blas"):
        # First the truth and the scans (each reads the whole table, which leaves the caches
        # cold for whatever follows), then the two index paths alternating, so that both see
        # the same phases of the machine's load.
        truths = []
        for q, (la, lo, radius) in zip(queries, places, strict=True):
            t0 = time.perf_counter()
            truths.append(truth(q, la, lo, radius))
            times["exact"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            top = np.argpartition(-(vectors @ q), K - 1)[:K]
            times["scan"].append(time.perf_counter() - t0)
            del top
        for q, (la, lo, radius), expected in zip(queries, places, truths, strict=True):
            for name, held in (("lists", lists), ("slices", None)):
                index._table.lists = held
                t0 = time.perf_counter()
                got = searched(q, la, lo, radius)
                times[name].append(time.perf_counter() - t0)
                recall[name].append(len(expected & set(got)) / max(1, len(expected)))
            index._table.lists = lists
    per_posting = table_bytes(index) / n
    row = {
        "n": n,
        "lists": len(lists.starts) - 1,
        "build_s": build,
        "build_plain_s": build_plain,
        "regroup_s": regroup,
        "bytes_per_posting": per_posting,
        "vector_bytes": vectors.shape[1] * 4,
    }
    for name, ts in times.items():
        row[f"{name}_p50"] = statistics.median(ts) * 1000
        row[f"{name}_p99"] = float(np.percentile(ts, 99)) * 1000
    for name, rs in recall.items():
        row[f"{name}_recall"] = statistics.mean(rs)
        row[f"{name}_recall_min"] = min(rs)
    log(str({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--base", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=0.02)
    parser.add_argument(
        "--workdir", default=str(Path(tempfile.gettempdir()) / "jobmatch-bench-vector-index")
    )
    args = parser.parse_args()
    data = base_data(Path(args.workdir), args.base)
    rows = [run_size(n, data, args) for n in args.sizes]
    print(
        "| N | lists | with lists p50 / p99 (ms) | recall@100 (min) | slices + 64-d pass p50 / "
        "p99 (ms) | recall@100 (min) | exact filtered scan p50 (ms) | plain numpy scan p50 "
        "(ms) | lists / slices | sort with lists fitted / regrouped / without (s) | table bytes "
        "per posting |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n']:,} | {r['lists']} | {r['lists_p50']:.2f} / {r['lists_p99']:.2f} | "
            f"{r['lists_recall']:.3f} ({r['lists_recall_min']:.2f}) | "
            f"{r['slices_p50']:.2f} / {r['slices_p99']:.2f} | "
            f"{r['slices_recall']:.3f} ({r['slices_recall_min']:.2f}) | {r['exact_p50']:.1f} | "
            f"{r['scan_p50']:.1f} | {r['lists_p50'] / r['slices_p50']:.2f} | "
            f"{r['build_s']:.1f} / {r['regroup_s']:.1f} / {r['build_plain_s']:.1f} | "
            f"{r['bytes_per_posting']:,.0f} |"
        )
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(
            f"\n{a['n']:,} -> {b['n']:,}: with lists p50 x{b['lists_p50'] / a['lists_p50']:.2f}, "
            f"slices x{b['slices_p50'] / a['slices_p50']:.2f}, "
            f"numpy scan x{b['scan_p50'] / a['scan_p50']:.2f}"
        )


if __name__ == "__main__":
    main()
