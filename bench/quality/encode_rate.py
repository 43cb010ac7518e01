"""Encode rate of each embedding model on the same texts, in interleaved rounds, same process.

    OMP_NUM_THREADS=1 python -m bench.quality.encode_rate --esco /work/shared/data/esco

200 report-split posting texts and 200 ESCO occupation labels; the median of 3 rounds per model,
and its ratio to the first model's (the machine is shared: compare ratios, not rates).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from bench.quality import data
from bench.quality.run import _posting_profile
from matching.embed import EMBEDDING_MODELS, make_embedder
from matching.taxonomy import Taxonomy
from matching.text import posting_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--esco", type=Path, required=True)
    parser.add_argument("--model", default=",".join(EMBEDDING_MODELS))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    taxonomy = Taxonomy.load()
    bench = data.build(args.esco, taxonomy, seed=17, groups_per_split=60)
    texts = {
        "postings": [posting_text(_posting_profile(p)) for p in bench.report.postings[:200]],
        "labels": [o.label for o in taxonomy.occupations[:200]],
    }
    models = {m: make_embedder(m) for m in args.model.split(",")}
    for embedder in models.values():
        embedder.encode(texts["postings"][:4])  # load lazily held weights before timing
    rates: dict[tuple[str, str], list[float]] = {(m, k): [] for m in models for k in texts}
    for _ in range(args.rounds):
        for name, embedder in models.items():
            for kind, batch in texts.items():
                start = time.perf_counter()
                embedder.encode(batch)
                rates[(name, kind)].append(len(batch) / (time.perf_counter() - start))
    first = next(iter(models))
    print("| model | texts | median texts/s | rounds | ratio to " + first + " |")
    print("|---|---|---|---|---|")
    for (name, kind), values in rates.items():
        base = statistics.median(rates[(first, kind)])
        median = statistics.median(values)
        rounds = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {name} | {kind} | {median:.1f} | {rounds} | {median / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
