"""e5-small's prefix for symmetric matching: "query: " on both sides against "passage: " on both.

    OMP_NUM_THREADS=1 python -m bench.quality.e5_prefix --esco /work/shared/data/esco [--groups 40]

Plain cosine nDCG@10 on the report split's tasks and the French slice (no label vectors needed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.quality import data
from bench.quality.run import MemoEmbedder, cosine_pairs, metrics
from matching.embed import E5SmallEmbedder
from matching.taxonomy import Taxonomy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--esco", type=Path, required=True)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    args = parser.parse_args(argv)
    bench = data.build(args.esco, Taxonomy.load(), seed=17, groups_per_split=args.groups)
    report = bench.report
    french = data.french_slice(args.esco, report, seed=17)
    no_title = [data.Seeker(s.occupation, s.isco08, None, s.summary) for s in report.seekers]
    slices = (
        ("seeker→postings", report.seekers, report.postings),
        ("without a title", no_title, report.postings),
        ("paraphrased", report.paraphrased_seekers, report.paraphrased_postings),
        ("French → English", french.seekers, report.postings),
        ("French → French", french.seekers, french.postings),
    )
    print(f"{len(report.seekers)} seekers, {len(report.postings)} postings")
    for prefix in ("query", "passage"):
        embedder = E5SmallEmbedder(prefix)
        memo = MemoEmbedder(embedder, args.cache / f"memo-{embedder.name}.npz")
        cells = []
        for name, seekers, postings in slices:
            pairs = cosine_pairs(memo, seekers, postings)
            cells.append(f"{name} {metrics(pairs.cosine, pairs.grades)['ndcg10']:.3f}")
            if name == "seeker→postings":
                back = metrics(pairs.cosine.T, pairs.grades.T)["ndcg10"]
                cells.append(f"posting→seekers {back:.3f}")
        memo.save()
        print(f"{prefix}: " + ", ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
