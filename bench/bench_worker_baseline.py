"""Where one API process's memory goes before it holds any posting: what start-up loads, step
by step, in this process (the resident set's growth after each step), and the sizes of the
large objects it keeps.

Run from the repository root (point JOBMATCH_CACHE_DIR at a cache holding the ESCO label
vectors, or the understanding step encodes them first):

    JOBMATCH_CACHE_DIR=$PWD/.jobmatch-test-cache/cache \
        .venv/bin/python bench/bench_worker_baseline.py

`--pid N` instead sums the smaps of a running process (a worker of `jobmatch serve`) by kind of
mapping: anonymous (the heap: Python objects, tensors), files (shared libraries, mapped data).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def rollup(pid: int | str = "self") -> dict[str, int]:
    """KiB by field of /proc/<pid>/smaps_rollup."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value, *_ = line.split()
        out[key.rstrip(":")] = int(value)
    return out


def by_mapping(pid: int) -> list[tuple[str, int, int]]:
    """(mapping, Rss KiB, Private KiB) summed by file name, [anon] for anonymous memory."""
    sums: dict[str, list[int]] = {}
    name = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        first = line.split()
        if "-" in first[0] and not first[0].endswith(":"):
            name = first[5] if len(first) > 5 else "[anon]"
            if name.startswith("/"):
                name = "libraries (.so)" if ".so" in name else f"file {Path(name).name}"
            sums.setdefault(name, [0, 0])
        elif first[0] == "Rss:":
            sums[name][0] += int(first[1])
        elif first[0] in ("Private_Clean:", "Private_Dirty:"):
            sums[name][1] += int(first[1])
    rows = [(n, rss, private) for n, (rss, private) in sums.items()]
    return sorted(rows, key=lambda r: -r[1])


def steps() -> None:
    import gc

    def mib(kib: int) -> str:
        return f"{kib / 1024:7.1f}"

    last = rollup()
    print(f"{'step':<44} {'RSS+':>7} {'anon+':>7} (MiB)  RSS, anon after")

    def report(step: str) -> None:
        nonlocal last
        now = rollup()
        grown = f"{mib(now['Rss'] - last['Rss'])} {mib(now['Anonymous'] - last['Anonymous'])}"
        after = f"{mib(now['Rss'])}, {mib(now['Anonymous'])}"
        print(f"{step:<44} {grown}        {after}", flush=True)
        last = now

    report("interpreter")
    import numpy  # noqa: F401

    report("numpy")
    import torch  # noqa: F401

    report("torch")
    import sentence_transformers  # noqa: F401
    import sklearn  # noqa: F401

    report("sentence-transformers, transformers, sklearn")
    from service.app import create_app, load_embedder
    from service.config import get_settings
    from service.embeddings import understanding
    from service.records import geocode

    report("service (FastAPI, asyncpg, routes...)")
    settings = get_settings()
    embedder = load_embedder(settings)
    report("embedding model loaded")
    model = getattr(embedder, "_model", None)
    if model is not None and hasattr(model, "parameters"):
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        print(f"    model weights: {weights / 2**20:.1f} MiB")
    geocode.load()
    report("gazetteer")
    reference = understanding.load(
        embedder,
        taxonomy_path=settings.taxonomy_path,
        cache_dir=settings.cache_dir or settings.data_dir / "cache",
    )
    report("ESCO taxonomy + text understanding")
    texts, vectors = reference.normaliser.encoded()
    print(f"    ESCO label vectors: {vectors.nbytes / 2**20:.1f} MiB ({len(texts)} texts, mapped)")
    create_app(settings, embedder=embedder)
    report("create_app")
    embedder.encode(["warm-up: a first encode allocates torch's buffers"])
    report("one encode")
    gc.collect()
    print(f"    objects tracked by the garbage collector: {len(gc.get_objects()):,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pid", type=int, help="a running process: its smaps by mapping")
    args = parser.parse_args()
    if args.pid is None:
        steps()
        return
    roll = rollup(args.pid)
    print(
        f"pid {args.pid}: Rss {roll['Rss'] / 1024:.0f} MiB, Pss {roll['Pss'] / 1024:.0f}, "
        f"Pss_Anon {roll.get('Pss_Anon', 0) / 1024:.0f}, "
        f"Pss_File {roll.get('Pss_File', 0) / 1024:.0f}"
    )
    for name, rss, private in by_mapping(args.pid)[:12]:
        print(f"  {name:<40} Rss {rss / 1024:7.1f} MiB  private {private / 1024:7.1f} MiB")


if __name__ == "__main__":
    main()
