"""Lexical relevance between a seeker's and a posting's text, and rank fusion.

`LexicalModel` is TF-IDF over stemmed words without stop words (sublinear term frequency,
smoothed idf; Salton & Buckley, "Term-weighting approaches in automatic text retrieval", 1988),
compared by cosine, so a value is in [0, 1] and can be a scoring feature. It plays the part a
PostgreSQL full-text path plays in the service (a `tsvector` of the same words, ranked), with
idf fitted once on a corpus of posting texts — or on the ESCO documents when no corpus exists —
and then usable per pair: `vector()` once per text, `similarity()` per pair.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse

from matching.text import normal_words

SparseVector = Mapping[str, float]


class LexicalModel:
    """TF-IDF cosine between texts, with idf from a fitted corpus."""

    def __init__(self, idf: Mapping[str, float], *, default_idf: float) -> None:
        self.idf = dict(idf)
        # A word the corpus never saw is as rare as the rarest seen.
        self.default_idf = default_idf

    @classmethod
    def fit(cls, corpus: Iterable[str]) -> LexicalModel:
        df: Counter[str] = Counter()
        n = 0
        for text in corpus:
            n += 1
            df.update(set(normal_words(text)))
        idf = {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}
        return cls(idf, default_idf=math.log(1 + n) + 1.0)

    def vector(self, text: str | None) -> dict[str, float]:
        """Unit-length TF-IDF weights of a text's words (empty for no words)."""
        if not text:
            return {}
        counts = Counter(normal_words(text))
        weights = {
            w: (1.0 + math.log(c)) * self.idf.get(w, self.default_idf) for w, c in counts.items()
        }
        norm = math.sqrt(sum(v * v for v in weights.values()))
        return {w: v / norm for w, v in weights.items()} if norm else {}

    @staticmethod
    def cosine(a: SparseVector, b: SparseVector) -> float:
        if len(a) > len(b):
            a, b = b, a
        return float(sum(v * b.get(w, 0.0) for w, v in a.items()))

    def similarity(
        self, a: str | SparseVector | None, b: str | SparseVector | None
    ) -> float | None:
        """Cosine of two texts (or of vectors from `vector()`); None when a side has no words."""
        va = self.vector(a) if isinstance(a, str) or a is None else a
        vb = self.vector(b) if isinstance(b, str) or b is None else b
        if not va or not vb:
            return None
        return self.cosine(va, vb)

    def matrix(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Texts as rows of unit-length TF-IDF vectors over this model's vocabulary (words the
        corpus never saw are dropped): for scoring many pairs at once with one product."""
        vocab = {w: i for i, w in enumerate(self.idf)}
        rows, cols, vals = [], [], []
        for r, text in enumerate(texts):
            for w, v in self.vector(text).items():
                j = vocab.get(w)
                if j is not None:
                    rows.append(r)
                    cols.append(j)
                    vals.append(v)
        return sparse.csr_matrix(
            (vals, (rows, cols)), shape=(len(texts), len(vocab)), dtype=np.float32
        )


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], *, k: int = 60, limit: int | None = None
) -> list[int]:
    """Fuse several rankings of candidate ids into one (Cormack, Clarke & Büttcher, "Reciprocal
    rank fusion outperforms Condorcet and individual rank learning methods", SIGIR 2009):
    score(d) = Σ_r 1 / (k + rank_r(d)), ranks from 1. Ties keep first-seen order."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    fused = sorted(scores, key=lambda item: -scores[item])  # sorted() is stable
    return fused if limit is None else fused[:limit]


def sentence_max_cosine(
    query: npt.NDArray[np.float32], sentences: npt.NDArray[np.float32]
) -> float:
    """The best cosine between a query vector and a text's sentence vectors (unit length):
    sentence-level matching, where one line of a long ad can match a short profile."""
    if sentences.size == 0:
        return float("nan")
    return float(np.max(sentences @ query))
