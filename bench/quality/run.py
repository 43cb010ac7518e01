"""Match-quality benchmark: plain embedding cosine, TF-IDF and the matching pipeline, same run.

    python -m bench.quality.run --esco /work/shared/data/esco [--seed 17] [--cache DIR]
        [--model minilm,e5-small,use-multilingual] [--calibrate] [--no-sentences]

Tasks are built from the ESCO CSVs (`bench.quality.data`); the pipeline sees only the free text
(a seeker's headline and summary, a posting's title and description), normalises it with
`matching.normalise`, and scores every pair with `matching.rank` and the default scorer,
exactly as the service will. Weights and the semantic calibration are fitted on the tuning split
(`--tune` prints them); the figures reported are those of the report split.

`--model` takes one or more embedding models (the values of `JOBMATCH_EMBEDDING_MODEL`); each is
run in turn on the same tasks, with a French slice (French seekers against English postings and
against French ones, from ESCO's French labels and descriptions), and a summary compares them,
encode rates as ratios to the first model's in the same run. `--calibrate` also refits the
semantic calibration to each model's cosines on the tuning split (the default one was fitted to
MiniLM's) and reports the pipeline with it.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bench.quality import data
from matching.embed import EMBEDDING_MODELS, E5SmallEmbedder, Embedder, Vectors, make_embedder
from matching.features import FEATURE_NAMES
from matching.lexical import LexicalModel, reciprocal_rank_fusion
from matching.normalise import OccupationNormaliser, OccupationSimilarity
from matching.profiles import PostingProfile, SeekerProfile
from matching.rank import score_postings_for_seeker
from matching.score import DEFAULT_WEIGHTS, WeightedSumScorer
from matching.taxonomy import Taxonomy
from matching.text import posting_text, seeker_text, sentences

Matrix = np.ndarray


class MemoEmbedder:
    """Encodes each distinct text once per cache directory (the benchmark re-runs often)."""

    def __init__(self, inner: Embedder, path: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.path = path
        self.memo: dict[str, np.ndarray] = {}
        self.encoded = 0
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                self.memo = dict(zip(z["texts"].tolist(), z["vectors"], strict=True))

    def add(self, texts: Sequence[str], vectors: Vectors) -> None:
        for t, v in zip(texts, vectors, strict=True):
            self.memo.setdefault(t, v)

    def encode(self, texts: Sequence[str]) -> Vectors:
        missing = sorted({t for t in texts if t not in self.memo})
        if missing:
            self.add(missing, self.inner.encode(missing))
            self.encoded += len(missing)
        return np.stack([self.memo[t] for t in texts]).astype(np.float32)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self.memo)
        np.savez(
            self.path.with_suffix(".tmp.npz"),
            texts=np.array(texts),
            vectors=np.stack([self.memo[t] for t in texts]),
        )
        self.path.with_suffix(".tmp.npz").replace(self.path)


# -- metrics -------------------------------------------------------------------------------------


def _order(scores: Matrix) -> Matrix:
    """Candidates best first per row; ties by candidate index (a stable sort of -score)."""
    return np.argsort(-scores, axis=1, kind="stable")


def metrics(scores: Matrix, grades: Matrix) -> dict[str, float]:
    """Mean nDCG@10 (gain 2^g - 1), R@50 (share of grade >= 1 found in the top 50) and MRR
    (first grade-2 item) over the query rows."""
    order = _order(scores)
    ranked = np.take_along_axis(grades, order, axis=1)
    discounts = 1.0 / np.log2(np.arange(2, 12))
    dcg = ((2.0 ** ranked[:, :10] - 1) * discounts).sum(axis=1)
    ideal = np.sort(grades, axis=1)[:, ::-1][:, :10]
    idcg = ((2.0**ideal - 1) * discounts).sum(axis=1)
    ok = idcg > 0
    relevant = (grades >= 1).sum(axis=1)
    r50 = (ranked[:, :50] >= 1).sum(axis=1) / np.maximum(relevant, 1)
    first = np.argmax(ranked == 2, axis=1)
    has = (ranked == 2).any(axis=1)
    mrr = np.where(has, 1.0 / (first + 1), 0.0)
    return {
        "ndcg10": float((dcg[ok] / idcg[ok]).mean()),
        "r50": float(r50[relevant > 0].mean()),
        "mrr": float(mrr[has].mean()),
    }


# -- one task: queries × candidates --------------------------------------------------------------


@dataclass
class Task:
    name: str
    grades: Matrix  # seekers × postings
    cosine: Matrix
    tfidf: Matrix
    sentence: Matrix  # best posting sentence vs the seeker text
    features: Matrix  # seekers × postings × FEATURE_NAMES (the pipeline's, with normalisation)
    plain: Matrix  # the same without normalisation (nothing inferred)
    pipeline: Matrix  # the scorer's totals through matching.rank
    transpose: bool = False  # queries are postings


def _seeker_profile(s: data.Seeker) -> SeekerProfile:
    return SeekerProfile(headline=s.headline, summary=s.summary)


def _posting_profile(p: data.Posting) -> PostingProfile:
    return PostingProfile(title=p.title, description=p.description)


class Pipeline:
    def __init__(
        self,
        embedder: MemoEmbedder,
        normaliser: OccupationNormaliser,
        similarity: OccupationSimilarity,
        *,
        sentence_level: bool = True,
    ) -> None:
        self.sentence_level = sentence_level
        self.embedder = embedder
        self.normaliser = normaliser
        self.skills = normaliser.skills
        self.similarity = similarity

    def seekers(self, items: Sequence[data.Seeker]) -> tuple[list[SeekerProfile], Vectors]:
        profiles = [_seeker_profile(s) for s in items]
        vectors = self.embedder.encode([seeker_text(p) for p in profiles])
        inferred = self.normaliser.infer_many(
            [p.headline for p in profiles], [p.summary for p in profiles], text_vectors=vectors
        )
        out = [
            replace(p, inferred_occupations=o, inferred_skills=self.skills.extract(p.summary))
            for p, o in zip(profiles, inferred, strict=True)
        ]
        return out, vectors

    def postings(self, items: Sequence[data.Posting]) -> tuple[list[PostingProfile], Vectors]:
        profiles = [_posting_profile(p) for p in items]
        vectors = self.embedder.encode([posting_text(p) for p in profiles])
        inferred = self.normaliser.infer_many(
            [p.title for p in profiles], [p.description for p in profiles], text_vectors=vectors
        )
        out = [
            replace(p, inferred_occupations=o, inferred_skills=self.skills.extract(p.description))
            for p, o in zip(profiles, inferred, strict=True)
        ]
        return out, vectors

    def task(
        self,
        name: str,
        seekers: Sequence[data.Seeker],
        postings: Sequence[data.Posting],
        scorer: WeightedSumScorer,
    ) -> Task:
        s_profiles, s_vec = self.seekers(seekers)
        p_profiles, p_vec = self.postings(postings)
        cosine = s_vec @ p_vec.T
        p_texts = [posting_text(p) for p in p_profiles]
        lexical = LexicalModel.fit(p_texts)
        tfidf = (
            lexical.matrix([seeker_text(s) for s in s_profiles]) @ lexical.matrix(p_texts).T
        ).toarray()
        # Sentence level: every sentence of each description, best match per pair (several
        # encodes per posting: skipped with --no-sentences, the variant then equals the pipeline).
        sentence = cosine.copy()
        if self.sentence_level:
            sent_texts: list[str] = []
            owner: list[int] = []
            for j, p in enumerate(p_profiles):
                for sent in sentences(p.description or "") or [p.title]:
                    sent_texts.append(sent)
                    owner.append(j)
            sent_cos = s_vec @ self.embedder.encode(sent_texts).T
            sentence = np.full(cosine.shape, -1.0, dtype=np.float32)
            for col, j in enumerate(owner):
                np.maximum(sentence[:, j], sent_cos[:, col], out=sentence[:, j])
        grades = np.array(
            [
                [
                    2 if s.occupation == p.occupation else 1 if s.isco08 == p.isco08 else 0
                    for p in postings
                ]
                for s in seekers
            ],
            dtype=np.float64,
        )
        features = np.zeros((*cosine.shape, len(FEATURE_NAMES)))
        pipeline = np.zeros(cosine.shape)
        for i, seeker in enumerate(s_profiles):
            ranked = score_postings_for_seeker(
                seeker,
                p_profiles,
                [float(c) for c in cosine[i]],
                scorer,
                lexicals=[float(x) for x in tfidf[i]],
                occupations=self.similarity,
            )
            for item in ranked:
                pipeline[i, item.candidate] = item.score
                features[i, item.candidate] = [item.features[n] or 0.0 for n in FEATURE_NAMES]
        # Without normalisation nothing is inferred: with free text only, the occupation and
        # skill features are then unknown (0), the rest is unchanged.
        plain = features.copy()
        for factor in ("occupation", "required_skills", "preferred_skills"):
            plain[..., _IDX[factor]] = 0.0
        return Task(name, grades, cosine, tfidf, sentence, features, plain, pipeline)


def tasks(
    pipe: Pipeline,
    split: data.Split,
    scorer: WeightedSumScorer,
    french: data.FrenchSlice | None = None,
) -> list[Task]:
    main = pipe.task("seeker→postings", split.seekers, split.postings, scorer)
    back = Task(
        "posting→seekers",
        main.grades.T,
        main.cosine.T,
        main.tfidf.T,
        main.sentence.T,
        main.features.transpose(1, 0, 2),
        main.plain.transpose(1, 0, 2),
        main.pipeline.T,
        transpose=True,
    )
    no_title = [data.Seeker(s.occupation, s.isco08, None, s.summary) for s in split.seekers]
    tasks_only = pipe.task("tasks only (no title)", no_title, split.postings, scorer)
    para = pipe.task("paraphrased", split.paraphrased_seekers, split.paraphrased_postings, scorer)
    out = [main, back, tasks_only, para]
    if french is not None:
        out.append(
            pipe.task("French seeker → English postings", french.seekers, split.postings, scorer)
        )
        out.append(pipe.task("French → French", french.seekers, french.postings, scorer))
    return out


# -- variants scored from the feature tensor -----------------------------------------------------

_IDX = {n: i for i, n in enumerate(FEATURE_NAMES)}


def clipped(cosine: Matrix) -> Matrix:
    """The semantic factor before calibration: cosine clipped to [0.2, 0.7], stretched."""
    return np.clip((cosine - 0.2) / 0.5, 0.0, 1.0)


def weighted(features: Matrix, weights: Mapping[str, float]) -> Matrix:
    w = np.array([weights.get(n, 0.0) for n in FEATURE_NAMES])
    return features @ w


def variants(
    task: Task,
    weights: Mapping[str, float],
    calibration: tuple[float, float] | None = None,
) -> dict[str, Matrix]:
    f = task.features
    out = {
        "cosine": task.cosine,
        "TF-IDF": task.tfidf,
        "pipeline": task.pipeline,
    }
    no_norm = task.plain
    out["− normalisation"] = weighted(no_norm, weights)
    no_lex = dict(weights)
    no_lex["semantic"] = no_lex.get("semantic", 0) + no_lex.pop("lexical", 0)
    out["− lexical fusion"] = weighted(f, no_lex)
    g = f.copy()
    g[..., _IDX["semantic"]] = clipped(task.cosine)
    out["− calibration (clipped cosine)"] = weighted(g, weights)
    h = f.copy()
    sent = np.maximum(task.sentence, task.cosine)
    from matching.features import semantic_fit

    h[..., _IDX["semantic"]] = np.vectorize(semantic_fit)((task.cosine + sent) / 2)
    out["+ sentence-level"] = weighted(h, weights)
    s = f.copy()
    s[..., _IDX["required_skills"]] = 0
    s[..., _IDX["preferred_skills"]] = 0
    out["− skill features"] = weighted(s, weights)
    if calibration is not None:
        midpoint, slope = calibration
        c = f.copy()
        c[..., _IDX["semantic"]] = 1.0 / (1.0 + np.exp(-slope * (task.cosine - midpoint)))
        out["pipeline, calibration refitted to this model"] = weighted(c, weights)
    return out


def pool_recall(task: Task, size: int = 100) -> dict[str, float]:
    """Share of relevant candidates (grade >= 1) in a retrieval pool of `size`: the nearest by
    cosine, by TF-IDF, and both fused by reciprocal rank fusion — what the scorer can rescue."""
    relevant = task.grades >= 1
    out: dict[str, float] = {}
    cos_order = _order(task.cosine)[:, :size]
    lex_order = _order(task.tfidf)[:, : size * 2]
    fused = np.array(
        [
            reciprocal_rank_fusion([c.tolist(), x.tolist()], limit=size)
            for c, x in zip(_order(task.cosine)[:, : size * 2], lex_order, strict=True)
        ]
    )
    for name, pool in (("cosine", cos_order), ("TF-IDF", lex_order[:, :size]), ("RRF", fused)):
        hit = np.take_along_axis(relevant, pool, axis=1).sum(axis=1)
        out[name] = float((hit / np.maximum(relevant.sum(axis=1), 1)).mean())
    return out


def ties(scores: Matrix, k: int = 10) -> float:
    """Share of query rows whose top k holds two scores equal when shown to 4 decimals."""
    top = np.round(np.take_along_axis(scores, _order(scores)[:, :k], axis=1), 4)
    return float((np.diff(top, axis=1) == 0).any(axis=1).mean())


# Searched: the factors the benchmark can measure. Stated preferred skills never occur in it
# (free text only), so that weight stays as it is; the semantic factor keeps at least a floor,
# because the benchmark's texts are ESCO-derived and real text leans more on the embedding.
TUNED = ("semantic", "lexical", "occupation", "required_skills")
SEMANTIC_FLOOR = 0.15


def ndcg10(scores: Matrix, grades: Matrix) -> float:
    """Mean nDCG@10 alone, from a partial sort: the tuner calls it thousands of times."""
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    top_scores = np.take_along_axis(scores, top, axis=1)
    # ties at the cut are broken by candidate index, as in `metrics`
    order = np.lexsort((top, -top_scores), axis=1)
    ranked = np.take_along_axis(grades, np.take_along_axis(top, order, axis=1), axis=1)
    discounts = 1.0 / np.log2(np.arange(2, 12))
    dcg = ((2.0**ranked - 1) * discounts).sum(axis=1)
    ideal = np.sort(grades, axis=1)[:, ::-1][:, :10]
    idcg = ((2.0**ideal - 1) * discounts).sum(axis=1)
    ok = idcg > 0
    return float((dcg[ok] / idcg[ok]).mean())


def tune_weights(
    tuning: Sequence[Task], *, seed: int, trials: int = 500, tolerance: float = 0.01
) -> dict[str, float]:
    """Random search over the weights of `TUNED` (their total kept as today's; practical
    factors and preferred skills keep theirs) for mean nDCG@10 over the tuning tasks. Of the
    weightings within `tolerance` of the best, the most even one (highest entropy) is taken:
    where the benchmark cannot tell them apart, no factor should carry the score alone."""
    budget = sum(DEFAULT_WEIGHTS[n] for n in TUNED)
    rng = np.random.default_rng(seed)
    # Only the searched columns; the other factors are 0 throughout the benchmark. The reverse
    # task has the same pair scores, so it is left out of the search.
    cols = {t.name: t.features[..., [_IDX[n] for n in TUNED]].copy() for t in tuning}
    tried: list[tuple[float, dict[str, float]]] = []
    for trial in range(trials):
        if trial == 0:
            raw = np.array([DEFAULT_WEIGHTS[n] for n in TUNED])
        else:
            raw = rng.dirichlet(np.ones(len(TUNED)))
        raw = np.round(raw / raw.sum() * budget, 2)
        raw[0] += round(budget - raw.sum(), 2)  # keep the sum exact after rounding
        if (raw < 0).any() or raw[0] < SEMANTIC_FLOOR:
            continue
        w = dict(DEFAULT_WEIGHTS)
        w.update(dict(zip(TUNED, raw.tolist(), strict=True)))
        score = float(
            np.mean([ndcg10(cols[t.name] @ raw, t.grades) for t in tuning if not t.transpose])
        )
        tried.append((score, w))
    best = max(score for score, _ in tried)

    def entropy(w: Mapping[str, float]) -> float:
        p = np.array([w[n] for n in TUNED]) / budget
        return float(-(p[p > 0] * np.log(p[p > 0])).sum())

    near = [(score, w) for score, w in tried if score >= best - tolerance]
    score, chosen = max(near, key=lambda item: entropy(item[1]))
    print(
        f"search: best mean nDCG@10 {best:.4f}, chosen (most even within {tolerance}) {score:.4f}"
    )
    return chosen


@dataclass
class Pairs:
    """Cosines and grades of a query × candidate set, without the pipeline's features."""

    cosine: Matrix
    grades: Matrix
    transpose: bool = False


def cosine_pairs(
    embedder: Embedder, seekers: Sequence[data.Seeker], postings: Sequence[data.Posting]
) -> Pairs:
    s_vec = embedder.encode([seeker_text(_seeker_profile(s)) for s in seekers])
    p_vec = embedder.encode([posting_text(_posting_profile(p)) for p in postings])
    grades = np.array(
        [
            [
                2 if s.occupation == p.occupation else 1 if s.isco08 == p.isco08 else 0
                for p in postings
            ]
            for s in seekers
        ],
        dtype=np.float64,
    )
    return Pairs(s_vec @ p_vec.T, grades)


def fit_calibration(tuning: Sequence[Task | Pairs]) -> tuple[float, float]:
    """Logistic regression of "same ISCO unit group" on the cosine: (midpoint, slope)."""
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([t.cosine.ravel() for t in tuning if not t.transpose])
    y = np.concatenate([(t.grades >= 1).ravel() for t in tuning if not t.transpose])
    model = LogisticRegression(C=100.0).fit(x.reshape(-1, 1), y)
    slope = float(model.coef_[0, 0])
    return -float(model.intercept_[0]) / slope, slope


# -- occupation inference ------------------------------------------------------------------------


def inference_accuracy(
    normaliser: OccupationNormaliser, titles: Sequence[tuple[str, str]], *, typo: bool = False
) -> dict[str, float]:
    rng = random.Random(5)
    labels = [data._typo(t, rng) if typo else t for _, t in titles]
    start = time.perf_counter()
    found = normaliser.infer_many(labels, [None] * len(labels), k=5)
    seconds = time.perf_counter() - start
    truth = [u for u, _ in titles]
    index = {o.uri: o.isco08 for o in normaliser.taxonomy.occupations}
    top1 = np.mean([bool(f) and f[0].esco_uri == u for f, u in zip(found, truth, strict=True)])
    top5 = np.mean([u in {o.esco_uri for o in f} for f, u in zip(found, truth, strict=True)])
    isco1 = np.mean(
        [bool(f) and f[0].isco08 == index[u] for f, u in zip(found, truth, strict=True)]
    )
    confidence = np.mean([f[0].confidence for f in found if f])
    return {
        "n": len(titles),
        "top1": float(top1),
        "top5": float(top5),
        "isco_top1": float(isco1),
        "mean_top1_confidence": float(confidence),
        "ms_per_title": 1000 * seconds / max(1, len(titles)),
    }


def ingest_cost(
    pipe: Pipeline, postings: Sequence[data.Posting], raw: Embedder
) -> dict[str, float]:
    """Raw encode rate of posting texts vs encode + normalisation (occupations and skills, the
    text vectors reused, titles encoded unless they are labels), nothing remembered before."""
    profiles = [_posting_profile(p) for p in postings]
    texts = [posting_text(p) for p in profiles]
    pipe.normaliser.forget_titles()
    start = time.perf_counter()
    vectors = raw.encode(texts)
    encode = time.perf_counter() - start
    norm = pipe.normaliser
    norm.embedder = raw  # encode titles for real, not from the benchmark's memo
    start = time.perf_counter()
    norm.infer_many(
        [p.title for p in profiles], [p.description for p in profiles], text_vectors=vectors
    )
    for p in profiles:
        pipe.skills.extract(p.description)
    normalise = time.perf_counter() - start
    norm.embedder = pipe.embedder
    return {
        "n": len(texts),
        "encode_per_s": len(texts) / encode,
        "ingest_per_s": len(texts) / (encode + normalise),
        "ratio": encode / (encode + normalise),
    }


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def _embedder(model: str, e5_prefix: str) -> Embedder:
    if model == "e5-small":
        return E5SmallEmbedder(e5_prefix)
    return make_embedder(model)


def run_model(
    args: argparse.Namespace, model: str, full: Taxonomy, bench: data.Benchmark
) -> dict[str, object]:
    """Every figure of one embedding model on the benchmark; returns the summary's row."""
    raw = _embedder(model, args.e5_prefix)
    summary: dict[str, object] = {"model": model, "name": raw.name, "dimension": raw.dimension}
    # Label vectors of the full taxonomy (cached like the service would), then reused for the
    # taxonomy without held-out labels: only texts never seen are encoded.
    t = time.perf_counter()
    full_norm = OccupationNormaliser(full, raw, cache_dir=args.cache)
    label_seconds = time.perf_counter() - t
    memo = MemoEmbedder(raw, args.cache / f"memo-{raw.name}.npz")
    memo.add(*full_norm.encoded())
    t = time.perf_counter()
    normaliser = OccupationNormaliser(bench.taxonomy, memo)
    build_seconds = time.perf_counter() - t
    similarity = OccupationSimilarity(bench.taxonomy)
    pipe = Pipeline(memo, normaliser, similarity, sentence_level=not args.no_sentences)
    scorer = WeightedSumScorer()
    print(f"\n# {model} ({raw.name}, {raw.dimension} dimensions)")
    print(
        f"labels: {len(full_norm.encoded()[0])} texts; normaliser with full taxonomy "
        f"{label_seconds:.1f} s (encode {full_norm.encode_seconds:.1f} s, 0 = from cache); "
        f"held-out normaliser built in {build_seconds:.1f} s"
    )
    del full_norm
    print(
        f"held-out labels: {len(bench.held_out)}; report split: {len(bench.report.seekers)} "
        f"seekers, {len(bench.report.postings)} postings"
    )
    french = data.french_slice(args.esco, bench.report, seed=args.seed) if args.french else None

    print("\n## Occupation inference (report split, normaliser without the held-out labels)")
    inference = [
        ("held-out alternative labels", bench.report.held_out_titles, False),
        ("same, one typo each", bench.report.held_out_titles, True),
    ]
    if french is not None:
        inference.append(("French labels (taxonomy in English)", french.titles, False))
    for name, titles, typo in inference:
        acc = inference_accuracy(normaliser, titles, typo=typo)
        summary[f"inference: {name}"] = (acc["top1"], acc["top5"])
        print(
            f"- {name}: "
            + ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in acc.items()
            )
        )
    weights = dict(DEFAULT_WEIGHTS)
    calibration: tuple[float, float] | None = None
    if args.tune:
        tuning = tasks(pipe, bench.tune, scorer)
        memo.save()
        midpoint, slope = fit_calibration(tuning)
        print(f"\n## Tuning split\ncalibration: midpoint {midpoint:.3f}, slope {slope:.2f}")
        acc = inference_accuracy(normaliser, bench.tune.held_out_titles)
        print("inference (tune): " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
        tuned = tune_weights(tuning, seed=args.seed)
        print("tuned weights: " + ", ".join(f"{k} {v:.2f}" for k, v in tuned.items()))
        # The report below is scored with the tuned weights, as DEFAULT_WEIGHTS once copied.
        weights = tuned
        scorer = WeightedSumScorer(tuned, version="tuned")
        for t in tuning:
            print(
                f"  {t.name}: cosine {_fmt(metrics(t.cosine, t.grades)['ndcg10'])}, "
                f"current {_fmt(metrics(t.pipeline, t.grades)['ndcg10'])}, "
                f"tuned {_fmt(metrics(weighted(t.features, tuned), t.grades)['ndcg10'])}"
            )
    elif args.calibrate:
        pairs = [
            cosine_pairs(memo, bench.tune.seekers, bench.tune.postings),
            cosine_pairs(memo, bench.tune.paraphrased_seekers, bench.tune.paraphrased_postings),
        ]
        memo.save()
        calibration = fit_calibration(pairs)
        print(
            f"\ncalibration refitted on the tuning split: midpoint {calibration[0]:.3f}, "
            f"slope {calibration[1]:.2f}"
        )
    report = tasks(pipe, bench.report, scorer, french)
    memo.save()
    print("\n## Report split: nDCG@10 / R@50 / MRR")
    ratios = []
    for t in report:
        print(f"\n### {t.name} ({t.grades.shape[0]} queries × {t.grades.shape[1]} candidates)")
        print("| system | nDCG@10 | R@50 | MRR | nDCG@10 ÷ cosine |\n|---|---|---|---|---|")
        base = metrics(t.cosine, t.grades)["ndcg10"]
        for name, scores in variants(t, weights, calibration).items():
            m = metrics(scores, t.grades)
            print(
                f"| {name} | {_fmt(m['ndcg10'])} | {_fmt(m['r50'])} | {_fmt(m['mrr'])} | "
                f"{m['ndcg10'] / base:.2f} |"
            )
            if name == "pipeline":
                ratios.append(m["ndcg10"] / base)
            if name in ("cosine", "pipeline", "pipeline, calibration refitted to this model"):
                summary[f"{t.name}: {name}"] = m["ndcg10"]
        # The tensor path must agree with the scorer's own totals.
        assert np.allclose(weighted(t.features, weights), t.pipeline, atol=1e-9)
    print("\n## Retrieval pool of 100: share of relevant candidates in it")
    for t in report:
        print(f"- {t.name}: " + ", ".join(f"{k} {v:.3f}" for k, v in pool_recall(t).items()))
    print("\n## Ties: share of queries with two equal scores (to 4 decimals) in their top 10")
    for t in report:
        clip = variants(t, weights)["− calibration (clipped cosine)"]
        print(
            f"- {t.name}: pipeline {ties(t.pipeline):.3f}, with the clipped semantic factor "
            f"{ties(clip):.3f}, clipped cosine alone {ties(clipped(t.cosine)):.3f}"
        )
    print("\n## Ingest cost")
    for name, items in (
        ("postings", bench.report.postings[: args.ingest]),
        (
            "paraphrased postings (titles no label)",
            bench.report.paraphrased_postings[: args.ingest],
        ),
    ):
        cost = ingest_cost(pipe, items, raw)
        summary[f"ingest: {name}"] = cost
        print(f"- {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in cost.items()))
    memo.save()
    print(f"\nmin pipeline ratio {min(ratios):.2f}")
    return summary


def print_summary(rows: Sequence[Mapping[str, object]]) -> None:
    """One column per model: the figures that decide the default."""
    first = rows[0]
    print("\n# Summary (nDCG@10 unless said; encode rate as a ratio to the first model's)")
    print("| | " + " | ".join(str(r["model"]) for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    print("| dimensions | " + " | ".join(str(r["dimension"]) for r in rows) + " |")
    keys = [k for k in first if isinstance(first[k], float)]
    for key in keys:
        print(f"| {key} | " + " | ".join(_fmt(float(r[key])) for r in rows) + " |")  # type: ignore[arg-type]
    for key in (k for k in first if k.startswith("inference: ")):
        cells = []
        for r in rows:
            top1, top5 = r[key]  # type: ignore[misc]
            cells.append(f"{top1:.3f} / {top5:.3f}")
        print(f"| {key} (top-1 / top-5) | " + " | ".join(cells) + " |")
    for key in (k for k in first if k.startswith("ingest: ")):
        base = first[key]["encode_per_s"]  # type: ignore[index]
        cells = [
            f"{r[key]['encode_per_s']:.1f}/s ({r[key]['encode_per_s'] / base:.2f}), "  # type: ignore[index]
            f"ingest {r[key]['ratio']:.2f}"  # type: ignore[index]
            for r in rows
        ]
        print(f"| encode rate, {key[8:]} (ratio), ingest ÷ encode | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--esco", type=Path, required=True, help="folder with the ESCO zips")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    parser.add_argument("--groups", type=int, default=0, help="ISCO unit groups per split (0: all)")
    parser.add_argument("--tune", action="store_true", help="fit weights and calibration too")
    parser.add_argument(
        "--model",
        default="minilm",
        help=f"embedding models, comma-separated, of {', '.join(EMBEDDING_MODELS)}",
    )
    parser.add_argument("--e5-prefix", choices=("query", "passage"), default="query")
    parser.add_argument(
        "--calibrate", action="store_true", help="refit the semantic calibration per model"
    )
    parser.add_argument(
        "--no-sentences", action="store_true", help="skip the sentence-level variant"
    )
    parser.add_argument(
        "--no-french", dest="french", action="store_false", help="skip the French slice"
    )
    parser.add_argument("--ingest", type=int, default=300, help="postings timed for ingest")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.model.split(",") if m.strip()]
    unknown = sorted(set(models) - set(EMBEDDING_MODELS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; one of {sorted(EMBEDDING_MODELS)}")
    if args.tune and len(models) > 1:
        parser.error("--tune fits the weights of one model: pass one --model")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    full = Taxonomy.load()
    bench = data.build(args.esco, full, seed=args.seed, groups_per_split=args.groups or None)
    print(f"# Match quality, seed {args.seed}, {platform.node()}, {os.cpu_count()} cpus")
    rows = [run_model(args, model, full, bench) for model in models]
    print_summary(rows)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
