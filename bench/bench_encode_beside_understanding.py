"""How fast the model encodes while text understanding runs on another thread (the GIL).

A bulk import encodes on the model thread while the understanding thread reads ESCO occupations
and skills from the records before (service/records/bulk.py). On two cores both could run at
full speed, were it not for the GIL: whatever holds it in one thread stalls the other. This
encodes 1,024 generated postings alone, then again while another thread understands batches of
256 without pause, and prints the ratio (1.0: the threads do not hinder each other). The GIL
switch interval is the serving app's unless `--switch-interval-ms` is given (CPython's: 5).

    JOBMATCH_CACHE_DIR=$PWD/.jobmatch-test-cache/cache \
        python bench/bench_encode_beside_understanding.py
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postings", type=int, default=1024)
    parser.add_argument("--model", default=None, help="JOBMATCH_EMBEDDING_MODEL (default: its)")
    parser.add_argument(
        "--switch-interval-ms",
        type=float,
        default=None,
        help="the GIL switch interval (default: the serving app's, service.app)",
    )
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from matching.embed import make_embedder
    from seed.generate import generate_postings
    from service.app import GIL_SWITCH_INTERVAL_S
    from service.config import Settings
    from service.embeddings import understanding
    from service.records import preparation

    threadpool_limits(1)  # as the server (one BLAS thread when the vectors are in memory)
    switch_s = (
        GIL_SWITCH_INTERVAL_S if args.switch_interval_ms is None else args.switch_interval_ms / 1000
    )
    sys.setswitchinterval(switch_s)
    settings = Settings()
    bodies = [
        preparation.parse_body("posting", p) for p in generate_postings(args.postings, seed=2026)
    ]
    texts = [preparation.canonical_text("posting", b) for b in bodies]
    embedder = make_embedder(args.model or settings.embedding_model)
    cache = Path(os.environ.get("JOBMATCH_CACHE_DIR", settings.data_dir / "cache"))
    state = argparse.Namespace(
        understanding=understanding.load(embedder, taxonomy_path=None, cache_dir=cache)
    )
    batch = bodies[:256]
    vectors = embedder.encode(texts[:256])  # also warms the model
    started = time.perf_counter()
    preparation.understand(state, "posting", batch, vectors)  # type: ignore[arg-type]
    understand_ms = (time.perf_counter() - started) * 1000 / len(batch)

    started = time.perf_counter()
    embedder.encode(texts)
    alone = time.perf_counter() - started

    stop = threading.Event()
    understood = [0]

    def understand_without_pause() -> None:
        while not stop.is_set():
            preparation.understand(state, "posting", batch, vectors)  # type: ignore[arg-type]
            understood[0] += len(batch)

    other = threading.Thread(target=understand_without_pause)
    other.start()
    started = time.perf_counter()
    embedder.encode(texts)
    beside = time.perf_counter() - started
    stop.set()
    other.join()
    print(
        f"model {embedder.name}; GIL switch interval {switch_s * 1000:g} ms; understanding "
        f"alone {understand_ms:.2f} ms a posting"
    )
    print(
        f"encode {len(texts)} postings alone {alone:.2f} s, beside understanding {beside:.2f} s "
        f"({understood[0]} understood meanwhile): {alone / beside:.0%} of its speed"
    )


if __name__ == "__main__":
    main()
