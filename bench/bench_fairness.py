"""Benchmark matching.fairness: FA*IR tables, re-ranking, DetConstSort.

Run from the repository root:

    python bench/bench_fairness.py            # prints a markdown table, writes the results file
    python bench/bench_fairness.py --no-write # print only

Every figure is the median of repeated runs timed with time.perf_counter. "cold" means the
FA*IR table cache is cleared before each run, "warm" that the table is already cached (the
service's steady state). The k=200 adjusted table's exact failure probability is checked
against a Monte-Carlo simulation. If the reference library fairsearchcore can be imported
(from the venv, or from the directory in $FAIRSEARCHCORE_PATH / --fairsearchcore-path), its
adjusted table for k=200 is timed once in a subprocess with a timeout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import scipy

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from matching import fairness as F  # noqa: E402

RESULTS = ROOT / "bench" / "results_fairness.md"
ALPHA = 0.1

Row = tuple[str, str, float, int, str]  # operation, parameters, median ms, runs, target


def median_ms(
    fn: Callable[[], object], runs: int, before: Callable[[], None] | None = None
) -> float:
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def bench_tables(rows: list[Row]) -> None:
    for k, runs in ((200, 21), (1000, 7)):
        for p in (0.5, 0.25):
            ms = median_ms(partial(F.fair_mtable, k, p, ALPHA), runs, F.clear_table_cache)
            target = "< 16 ms" if k == 200 else ""
            rows.append(
                ("adjusted fair_mtable (cold)", f"k={k}, p={p}, alpha={ALPHA}", ms, runs, target)
            )
    for k, runs in ((200, 51), (1000, 21)):
        table = F.fair_mtable(k, 0.5, ALPHA)
        ms = median_ms(partial(F.fair_failure_probability, table, 0.5), runs)
        rows.append(("fair_failure_probability", f"k={k}, p=0.5 adjusted table", ms, runs, ""))


def candidates(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    scores = rng.random(n)
    groups = rng.choice(["a", "b", "c"], n, p=[0.55, 0.3, 0.15])
    # Biased scores, so the constraints have work to do.
    scores = scores - np.where(groups == "c", 0.15, 0.0) - np.where(groups == "b", 0.05, 0.0)
    return scores, groups == "c", groups.tolist()


def bench_rerank(rows: list[Row]) -> None:
    targets = {"a": 0.45, "b": 0.35, "c": 0.2}
    for n in (1000, 100_000):
        scores, protected, labels = candidates(n, n)
        many = n <= 1000
        for k in (100, 1000):
            fair = partial(F.fair_rerank, scores, protected, k, 0.2, ALPHA)
            fair()  # warm the table cache
            runs = 101 if many else 21
            target = "< 2 ms" if many else ""
            params = f"n={n:,}, k={k}, p=0.2"
            rows.append(("fair_rerank (warm table)", params, median_ms(fair, runs), runs, target))
            if many:
                ms = median_ms(fair, 21, F.clear_table_cache)
                rows.append(("fair_rerank (cold table)", params, ms, 21, ""))
        for k in (100, 1000):
            runs = 31 if many else 7
            dcs = partial(F.det_const_sort, scores, labels, targets, k)
            ms = median_ms(dcs, runs)
            rows.append(("det_const_sort", f"n={n:,}, k={k}, 3 groups", ms, runs, ""))
    n = 100_000
    scores, protected, labels = candidates(n, 5)
    fair = partial(F.fair_rerank, scores, protected, n, 0.2, ALPHA)
    fair()
    rows.append(("fair_rerank (warm table)", f"n={n:,}, k=n, p=0.2", median_ms(fair, 5), 5, ""))
    ms = median_ms(fair, 3, F.clear_table_cache)
    rows.append(("fair_rerank (cold table, capped adj.)", f"n={n:,}, k=n, p=0.2", ms, 3, ""))
    dcs = partial(F.det_const_sort, scores, labels, targets, n)
    rows.append(("det_const_sort", f"n={n:,}, k=n, 3 groups", median_ms(dcs, 3), 3, ""))


def monte_carlo(k: int, p: float, sims: int, seed: int = 2024) -> dict[str, float]:
    """Share of simulated fair rankings (each position protected w.p. p) failing the table."""
    info = F.fair_adjusted_table(k, p, ALPHA)
    table = np.asarray(info.mtable, dtype=np.int32)
    rng = np.random.default_rng(seed)
    fails = 0
    chunk = 20_000
    done = 0
    while done < sims:
        m = min(chunk, sims - done)
        counts = np.cumsum(rng.random((m, k)) < p, axis=1, dtype=np.int32)
        fails += int((counts < table[None, :]).any(axis=1).sum())
        done += m
    share = fails / sims
    exact = info.failure_probability
    se = (exact * (1 - exact) / sims) ** 0.5
    return {
        "k": k,
        "p": p,
        "sims": sims,
        "simulated": share,
        "exact": exact,
        "se": se,
        "z": (share - exact) / se,
        "alpha_c": info.alpha_c,
    }


FSC_CODE = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import fairsearchcore as fsc
k, p, alpha, shim = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
if shim:
    # fairsearchcore 1.0.4 returns a numpy integer from LegalAssignmentKey.__hash__, which
    # Python rejects under numpy 2; wrap the library's own hash in int(), nothing else.
    from fairsearchcore import fail_prob
    original = fail_prob.LegalAssignmentKey.__hash__
    fail_prob.LegalAssignmentKey.__hash__ = lambda self: int(original(self))
t0 = time.perf_counter()
table = fsc.Fair(k, p, alpha).create_adjusted_mtable()
elapsed = time.perf_counter() - t0
print(json.dumps({"seconds": elapsed, "table": [int(v) for v in table]}))
"""


def run_fairsearchcore(k: int, p: float, timeout: float, path: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = path + os.pathsep + env.get("PYTHONPATH", "")
    probe = subprocess.run(
        [sys.executable, "-c", "import fairsearchcore"], env=env, capture_output=True, text=True
    )
    if probe.returncode != 0:
        return {"status": "not importable (pip install fairsearchcore)"}
    notes: list[str] = []
    for shim in (False, True):
        try:
            out = subprocess.run(
                [sys.executable, "-c", FSC_CODE, str(k), str(p), str(ALPHA), "1" if shim else "0"],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"status": f"timed out after {timeout:.0f} s", "notes": notes}
        if out.returncode == 0:
            result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
            result["status"] = "ok" + (" (with int() hash shim)" if shim else "")
            result["notes"] = notes
            return result
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "unknown error"
        notes.append(f"{'with' if shim else 'without'} shim: {last}")
    return {"status": "fails to run", "notes": notes}


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}"
    )


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| operation | parameters | median | runs | target |",
        "|---|---|---:|---:|---|",
    ]
    for op, params, ms, runs, target in rows:
        shown = f"{ms:.3f} ms" if ms < 10 else f"{ms:.1f} ms"
        ok = ""
        if target:
            limit = float(target.split()[1])
            ok = f"{target} {'✓' if ms < limit else '✗'}"
        lines.append(f"| {op} | {params} | {shown} | {runs} | {ok} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="do not write the results file")
    parser.add_argument("--sims", type=int, default=200_000, help="Monte-Carlo rankings")
    parser.add_argument("--fairsearchcore-timeout", type=float, default=180.0)
    parser.add_argument(
        "--fairsearchcore-path",
        default=os.environ.get("FAIRSEARCHCORE_PATH"),
        help="extra sys.path entry holding fairsearchcore (if not in the venv)",
    )
    args = parser.parse_args()

    rows: list[Row] = []
    bench_tables(rows)
    bench_rerank(rows)
    table_md = markdown_table(rows)

    mc = [monte_carlo(200, p, args.sims) for p in (0.5, 0.25)]
    mc_lines = [
        f"- k={r['k']}, p={r['p']}, alpha={ALPHA}: exact failure probability "
        f"{r['exact']:.5f} (alpha_c {r['alpha_c']:.5f}); simulated {r['simulated']:.5f} over "
        f"{int(r['sims']):,} rankings, standard error {r['se']:.5f}, z = {r['z']:+.2f} "
        f"({'within' if abs(r['z']) < 4 else 'OUTSIDE'} 4 standard errors)"
        for r in mc
    ]

    k_ref, p_ref = 200, 0.5
    ours_ms = median_ms(lambda: F.fair_mtable(k_ref, p_ref, ALPHA), 21, F.clear_table_cache)
    fsc = run_fairsearchcore(k_ref, p_ref, args.fairsearchcore_timeout, args.fairsearchcore_path)
    if isinstance(fsc.get("seconds"), float):
        secs = float(fsc["seconds"])
        same = fsc.get("table") == F.fair_mtable(k_ref, p_ref, ALPHA)
        fsc_table = [int(v) for v in fsc["table"]]
        fsc_fail = F.fair_failure_probability(fsc_table, p_ref)
        fsc_line = (
            f"- fairsearchcore 1.0.4 adjusted table, k={k_ref}, p={p_ref}, alpha={ALPHA}: "
            f"{secs:.2f} s, status {fsc['status']}; matching.fairness: {ours_ms:.2f} ms cold "
            f"(**{secs * 1000 / ours_ms:,.0f}x faster**). Same table: {same}; exact failure "
            f"probability of its table {fsc_fail:.5f} vs ours "
            f"{F.fair_adjusted_table(k_ref, p_ref, ALPHA).failure_probability:.5f}."
        )
    else:
        fsc_line = (
            f"- fairsearchcore adjusted table, k={k_ref}, p={p_ref}: {fsc['status']}; "
            f"matching.fairness takes {ours_ms:.2f} ms cold."
        )
    for note in fsc.get("notes", []):
        fsc_line += f"\n  - {note}"

    command = "python bench/bench_fairness.py"
    if args.fairsearchcore_path:
        command = f"FAIRSEARCHCORE_PATH={args.fairsearchcore_path} {command}"
        fsc_line += (
            f"\n  - fairsearchcore imported from {args.fairsearchcore_path} (installed there with "
            "`pip install --target <dir> --no-deps fairsearchcore pandas python-dateutil "
            "tzdata`, keeping pandas out of the project venv; numpy and scipy come from the venv)"
        )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = "\n".join(
        [
            "# matching.fairness benchmark",
            "",
            f"Command: `{command}` (from the repository root)  ",
            f"Machine: {machine()}  ",
            f"Date: {stamp}",
            "",
            "Median of the stated number of runs (time.perf_counter). *cold*: FA*IR table cache "
            "cleared before each run; *warm*: table already cached. Scores are random with a "
            "group bias; FA*IR protects group c (15 % of candidates) with p=0.2.",
            "",
            table_md,
            "",
            "## Monte-Carlo check of the exact failure probability",
            "",
            *mc_lines,
            "",
            "## Reference library",
            "",
            fsc_line,
            "",
        ]
    )
    print(report)
    if not args.no_write:
        RESULTS.write_text(report, encoding="utf-8")
        print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
