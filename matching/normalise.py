"""Free text → ESCO: occupations and skills inferred from a title and a description.

Real postings and seekers arrive as a title and a few sentences, not as ESCO codes. This module
reads them against the whole ESCO taxonomy (every preferred and alternative label, the short
descriptions and the occupation–skill relations) so that the occupation and skill features have
something to compare. Nothing here overwrites what a person stated: results are `Inferred*`
values with a confidence and the text they came from.

Signals combined per occupation (each a similarity in about [0, 1]):

- ``title_embedding``: cosine of the title's sentence embedding with the nearest of the
  occupation's labels (max over labels);
- ``title_description``: cosine of the title's embedding with the occupation's embedded
  description (a title worded unlike any label can still be close to what the job is);
- ``text_embedding``: as ``title_embedding``, for the whole text's embedding — the vector the
  service already stores for the record can be passed in, so inference costs no second encode;
- ``text_description``: cosine of the text's embedding with the occupation's embedded description;
- ``title_lexical``: TF-IDF cosine over character 3–5-grams between the title and the nearest
  label — robust to typos, inflections and compounds the embedding model splits badly;
- ``text_lexical`` (``title_words`` for the title): TF-IDF cosine over stemmed words between
  the text and the occupation's document (labels, description, essential skills);
- ``skills``: idf-weighted cosine between the ESCO skills found in the text and the occupation's
  essential (and, at half weight, optional) skills — a seeker whose skills are an occupation's
  essential skills is likely in it.

The weighted sum is turned into a probability over all occupations with a softmax whose
temperature was fitted on held-out labels (temperature scaling, Guo et al., "On Calibration of
Modern Neural Networks", ICML 2017), so a confidence can be thresholded.

This service uses the ESCO classification of the European Commission.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from matching.embed import Embedder, Vectors
from matching.profiles import InferredOccupation, InferredSkill, Occupation
from matching.taxonomy import Taxonomy
from matching.text import STOP_WORDS, normal_words, word_spans

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]

SIGNALS: tuple[str, ...] = (
    "title_embedding",
    "title_description",
    "title_lexical",
    "title_words",
    "text_embedding",
    "text_description",
    "text_lexical",
    "skills",
)
_TITLE_SIGNALS = ("title_embedding", "title_description", "title_lexical", "title_words")

# Weights of the signals in the combined score, and the softmax's inverse temperature; set by
# measurement on held-out alternative labels and the quality benchmark's tuning split
# (bench/quality, see bench/README.md "Match quality"). A title says most about an occupation;
# the text's signals separate occupations whose titles are alike.
DEFAULT_SIGNAL_WEIGHTS: Mapping[str, float] = {
    "title_embedding": 1.0,
    "title_description": 0.4,
    "title_lexical": 0.4,
    "title_words": 0.4,
    "text_embedding": 0.25,
    "text_description": 0.25,
    "text_lexical": 1.0,
    "skills": 1.0,
}
# The combined score is the weighted mean of the signals present (a record without a title is
# not penalised for it), and the softmax multiplies it by this before normalising.
DEFAULT_SHARPNESS = 40.0
_BATCH = 256  # queries scored at once: bounds the (queries × labels) matrix to ~37 MB


def _analyse(text: str) -> list[str]:
    """Stemmed words without stop words: one analyser for labels, documents and queries."""
    return list(normal_words(text))


@dataclass(frozen=True, slots=True)
class _Match:
    skill: int
    start: int
    end: int


class SkillExtractor:
    """ESCO skills mentioned in a text, found by looking up its word n-grams (stemmed, stop
    words dropped) among every preferred and alternative skill label; the longest label wins
    and matches do not overlap."""

    def __init__(self, taxonomy: Taxonomy, *, max_words: int = 6, min_single_word: int = 4) -> None:
        self.taxonomy = taxonomy
        self.max_words = max_words
        # Keys are the label's normal words joined by spaces: strings cost a third of tuples,
        # and these tables hold every prefix of ~100k labels.
        self._labels: dict[str, int] = {}
        for i, skill in enumerate(taxonomy.skills):
            for label in skill.labels:
                words = normal_words(label)
                if not words or len(words) > max_words:
                    continue
                # One short word ("art", "law") matches too much running text to mean a skill.
                if len(words) == 1 and len(words[0]) < min_single_word:
                    continue
                self._labels.setdefault(" ".join(words), i)  # preferred label first: it wins
        self._prefixes: set[str] = set()
        for key in self._labels:
            parts = key.split(" ")
            self._prefixes.update(" ".join(parts[:n]) for n in range(1, len(parts)))
        # How many occupations ask for each skill: a skill every occupation lists says little.
        uses = np.zeros(len(taxonomy.skills), dtype=np.float64)
        for occ in taxonomy.occupations:
            for s in occ.essential:
                uses[s] += 1.0
            for s in occ.optional:
                uses[s] += 0.5
        self.idf = np.log((1.0 + len(taxonomy.occupations)) / (1.0 + uses)).astype(np.float32)

    def matches(self, text: str) -> list[_Match]:
        # Inference and extraction read the same texts one after the other: decide each once.
        return list(self._matches(text))

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one extractor per process, kept for its life
    def _matches(self, text: str) -> tuple[_Match, ...]:
        words = [(w, a, b) for w, a, b in word_spans(text) if w not in STOP_WORDS]
        out: list[_Match] = []
        i = 0
        while i < len(words):
            found: tuple[int, int] | None = None
            key = ""
            for n in range(1, min(self.max_words, len(words) - i) + 1):
                key = words[i][0] if n == 1 else f"{key} {words[i + n - 1][0]}"
                skill = self._labels.get(key)
                if skill is not None:
                    found = (skill, n)
                if key not in self._prefixes:
                    break
            if found is None:
                i += 1
                continue
            skill, n = found
            out.append(_Match(skill, words[i][1], words[i + n - 1][2]))
            i += n
        return tuple(out)

    def extract(self, text: str | None, *, source: str = "text") -> tuple[InferredSkill, ...]:
        """Skills mentioned in `text`, each once, with the first span it came from."""
        if not text:
            return ()
        seen: set[int] = set()
        out: list[InferredSkill] = []
        for m in self.matches(text):
            if m.skill in seen:
                continue
            seen.add(m.skill)
            skill = self.taxonomy.skills[m.skill]
            # An exact label is near-certain; a one-word label may be an everyday word.
            confidence = 0.95 if m.end - m.start > 12 or " " in text[m.start : m.end] else 0.7
            out.append(
                InferredSkill(skill.uri, skill.label, confidence, source, (m.start, m.end), False)
            )
        return tuple(out)

    def implied(
        self,
        occupations: Sequence[InferredOccupation],
        *,
        per_occupation: int = 8,
        min_confidence: float = 0.3,
    ) -> tuple[InferredSkill, ...]:
        """The most specific essential skills of confidently inferred occupations, marked
        implied, with the occupation's confidence halved: likely, not stated."""
        out: dict[str, InferredSkill] = {}
        for occ in occupations:
            index = self.taxonomy.occupation_index(occ.esco_uri)
            if index is None or occ.confidence < min_confidence:
                continue
            essential = sorted(
                self.taxonomy.occupations[index].essential, key=lambda s: -float(self.idf[s])
            )
            for s in essential[:per_occupation]:
                skill = self.taxonomy.skills[s]
                if skill.uri not in out:
                    out[skill.uri] = InferredSkill(
                        skill.uri, skill.label, occ.confidence / 2, "occupation", None, True
                    )
        return tuple(out.values())


# What ads add around a job title: seniority words, gender markers ("(m/f/d)", "(m/w/d)"),
# and what follows a dash or a bar ("- full time", "| Rotterdam").
_TITLE_NOISE = re.compile(
    r"\([^)]*\)|\b(senior|junior|experienced|trainee|wanted|urgent(ly)?|m/f/d|m/w/d|f/m/d|h/f)\b"
    r"|\s[-–—|:]\s.*$",
    re.IGNORECASE,
)


def bare_title(title: str) -> str:
    """A title without what ads add around it, lower-case, single-spaced."""
    return " ".join(_TITLE_NOISE.sub(" ", title).lower().split())


def label_cache_path(cache_dir: str | Path, model_name: str, taxonomy: Taxonomy) -> Path:
    """Where the label vectors of (model, taxonomy content) are kept."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)
    return Path(cache_dir) / f"esco-labels-{safe}-{taxonomy.digest}.npy"


def _label_groups(
    starts: npt.NDArray[np.int64], n_labels: int
) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    """The occupations grouped by their number of labels rounded up to a power of two, each
    group with a (occupations × width) matrix of label columns; an occupation with fewer labels
    than the width repeats its last one, which leaves its max unchanged."""
    counts = np.diff(np.append(starts, n_labels))
    widths = 2 ** np.ceil(np.log2(np.maximum(counts, 1))).astype(np.intp)
    groups = []
    for width in np.unique(widths):
        occupations = np.flatnonzero(widths == width)
        offsets = np.minimum(np.arange(width), counts[occupations, None] - 1)
        groups.append((occupations, (starts[occupations, None] + offsets).astype(np.intp)))
    return groups


class OccupationNormaliser:
    """Top ESCO occupations for a title and/or a text, with calibrated confidences.

    The label and description vectors are encoded once (about 39k short texts); pass
    `cache_dir` to keep them in a `.npy` file keyed by model name and taxonomy digest, so a
    restart loads them instead of encoding again.
    """

    def __init__(
        self,
        taxonomy: Taxonomy,
        embedder: Embedder,
        *,
        cache_dir: str | Path | None = None,
        weights: Mapping[str, float] | None = None,
        sharpness: float = DEFAULT_SHARPNESS,
        skills: SkillExtractor | None = None,
        encode_titles: Literal["always", "without_text", "never"] = "without_text",
    ) -> None:
        self.taxonomy = taxonomy
        # Whether a title that is no label is encoded for the embedding signals. By default
        # only for records without text: with a text the title's words (character and word
        # TF-IDF) and the text's own vector were as accurate on the benchmark, and ingest
        # saves the second encode.
        self.encode_titles = encode_titles
        self.embedder = embedder
        self.weights = dict(DEFAULT_SIGNAL_WEIGHTS if weights is None else weights)
        unknown = set(self.weights) - set(SIGNALS)
        if unknown:
            raise ValueError(f"unknown signals: {sorted(unknown)}")
        self.sharpness = sharpness
        self.skills = skills if skills is not None else SkillExtractor(taxonomy)
        occupations = taxonomy.occupations
        self.n = len(occupations)
        labels: list[str] = []
        starts: list[int] = []
        for occ in occupations:
            starts.append(len(labels))
            labels.extend(occ.labels)
        self._labels = labels
        # A title that is a label (once bare) takes the label's vector: no encode at ingest.
        self._label_rows: dict[str, int] = {}
        for row, label in enumerate(labels):
            self._label_rows.setdefault(bare_title(label), row)
        self._title_memo: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self.title_memo_size = 50_000
        self._starts = np.asarray(starts, dtype=np.int64)
        self._label_owner = np.repeat(
            np.arange(self.n), np.diff(np.append(self._starts, len(labels)))
        )
        self._label_groups = _label_groups(self._starts, len(labels))
        descriptions = [f"{o.label}: {o.description}" for o in occupations]
        self.encode_seconds = 0.0
        vectors = self._label_vectors(labels + descriptions, cache_dir)
        self._label_vectors_ = np.ascontiguousarray(vectors[: len(labels)])
        self._description_vectors = np.ascontiguousarray(vectors[len(labels) :])

        self._chars = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=True
        )
        self._label_chars = self._chars.fit_transform(labels).T.tocsr()
        documents = [
            " ".join(
                (
                    *o.labels,
                    o.description,
                    *(taxonomy.skills[s].label for s in o.essential),
                )
            )
            for o in occupations
        ]
        self._words = TfidfVectorizer(analyzer=_analyse, sublinear_tf=True)
        self._document_words = self._words.fit_transform(documents).T.tocsr()
        # Occupation × skill, idf-weighted, rows unit length: cosine with a text's skills.
        rows, cols, vals = [], [], []
        idf = self.skills.idf
        for i, occ in enumerate(occupations):
            for s in occ.essential:
                rows.append(i)
                cols.append(s)
                vals.append(float(idf[s]))
            for s in occ.optional:
                rows.append(i)
                cols.append(s)
                vals.append(0.5 * float(idf[s]))
        m = sparse.csr_matrix(
            (vals, (rows, cols)), shape=(self.n, len(taxonomy.skills)), dtype=np.float32
        )
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        self._occupation_skills = (sparse.diags(1.0 / norms) @ m).T.tocsr()

    def encoded(self) -> tuple[list[str], FloatArray]:
        """The texts encoded at construction (labels, then "label: description" per occupation)
        and their vectors, in the same order: what the cache file holds."""
        texts = self._labels + [f"{o.label}: {o.description}" for o in self.taxonomy.occupations]
        return texts, np.concatenate([self._label_vectors_, self._description_vectors])

    def _label_vectors(self, texts: list[str], cache_dir: str | Path | None) -> FloatArray:
        path = (
            None
            if cache_dir is None
            else label_cache_path(cache_dir, self.embedder.name, self.taxonomy)
        )
        if path is not None and path.is_file():
            # Mapped read-only, not read: the pages are the file's, held once by the kernel
            # however many worker processes map it (the file is replaced whole, never
            # rewritten in place).
            loaded = np.load(path, mmap_mode="r", allow_pickle=False)
            if loaded.shape == (len(texts), self.embedder.dimension):
                return np.asarray(loaded, dtype=np.float32)  # float32 already: no copy
            log.warning("ignoring %s: shape %s does not fit", path, loaded.shape)
        started = time.perf_counter()
        vectors = np.asarray(self.embedder.encode(texts), dtype=np.float32)
        self.encode_seconds = time.perf_counter() - started
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, vectors, allow_pickle=False)
            tmp.replace(path)  # atomic: a second process never reads half a file
        return vectors

    def title_vectors(
        self, titles: Sequence[str], *, encode: Sequence[bool] | None = None
    ) -> FloatArray:
        """Embeddings of job titles, encoding as few as possible: a title that is one of the
        taxonomy's labels once bare (`bare_title`) takes the label's stored vector, and titles
        encoded before are remembered (titles repeat across postings and seekers). A title
        that is neither and whose `encode` flag is False gets a zero vector (no signal)."""
        out = np.zeros((len(titles), self._label_vectors_.shape[1]), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        for i, title in enumerate(titles):
            bare = bare_title(title)
            row = self._label_rows.get(bare)
            if row is not None:
                out[i] = self._label_vectors_[row]
            elif bare in self._title_memo:
                out[i] = self._title_memo[bare]
                self._title_memo.move_to_end(bare)
            elif encode is None or encode[i]:
                todo.setdefault(bare, []).append(i)
        if todo:
            texts = [bare or titles[rows[0]] for bare, rows in todo.items()]
            for (bare, rows), vector in zip(todo.items(), self.embedder.encode(texts), strict=True):
                out[rows] = vector
                self._title_memo[bare] = vector
            while len(self._title_memo) > self.title_memo_size:
                self._title_memo.popitem(last=False)
        return out

    def forget_titles(self) -> None:
        """Drop the remembered title vectors (and the skill matches of texts read before)."""
        self._title_memo.clear()
        SkillExtractor._matches.cache_clear()

    # -- scoring -----------------------------------------------------------------------------

    def _per_occupation(self, label_scores: npt.NDArray[Any]) -> FloatArray:
        """Max over each occupation's labels, for a (queries × labels) matrix.

        Gathered per group of occupations with about as many labels (`_label_groups`) and
        reduced, rather than `np.maximum.reduceat`: gathering and reducing release the GIL,
        reduceat holds it, and a bulk import runs this beside the encoder's thread."""
        scores = np.asarray(label_scores, dtype=np.float32)
        out = np.empty((scores.shape[0], self.n), dtype=np.float32)
        for occupations, columns in self._label_groups:
            gathered = scores[:, columns.ravel()].reshape(scores.shape[0], *columns.shape)
            out[:, occupations] = gathered.max(axis=2)
        return out

    def signals(
        self,
        titles: Sequence[str | None],
        texts: Sequence[str | None],
        *,
        title_vectors: Vectors | None = None,
        text_vectors: Vectors | None = None,
    ) -> dict[str, FloatArray]:
        """Each signal as a (queries × occupations) matrix; a missing title or text gives zeros.

        `text_vectors` may be the embeddings the caller already computed for these records (its
        canonical texts): inference then encodes only the short titles.
        """
        if len(titles) != len(texts):
            raise ValueError("titles and texts differ in length")
        q = len(titles)
        out = {name: np.zeros((q, self.n), dtype=np.float32) for name in SIGNALS}
        has_title = [i for i, t in enumerate(titles) if t and t.strip()]
        has_text = [i for i, t in enumerate(texts) if t and t.strip()]
        if has_title:
            if self.encode_titles == "always":
                encode = [True] * len(has_title)
            elif self.encode_titles == "never":
                encode = [False] * len(has_title)
            else:
                encode = [not (texts[i] and str(texts[i]).strip()) for i in has_title]
            # A title's signals depend on the title alone, and titles repeat within an upload
            # (an employer's openings, common job names): each distinct one is scored once.
            distinct: dict[tuple[str, bool], int] = {}
            first_rows: list[int] = []
            of_row = np.empty(len(has_title), dtype=np.intp)
            for j, (i, flag) in enumerate(zip(has_title, encode, strict=True)):
                slot = distinct.setdefault((str(titles[i]), flag), len(distinct))
                if slot == len(first_rows):
                    first_rows.append(i)
                of_row[j] = slot
            t_text = [title for title, _ in distinct]
            tv = (
                self.title_vectors(t_text, encode=[flag for _, flag in distinct])
                if title_vectors is None
                else np.asarray(title_vectors)[first_rows]
            )
            chars = self._chars.transform(t_text)
            t_words = self._words.transform(t_text)
            scored = {n: np.empty((len(t_text), self.n), dtype=np.float32) for n in _TITLE_SIGNALS}
            for lo in range(0, len(t_text), _BATCH):
                part = slice(lo, lo + _BATCH)
                chunk = tv[part]
                scored["title_embedding"][part] = self._per_occupation(
                    chunk @ self._label_vectors_.T
                )
                scored["title_description"][part] = chunk @ self._description_vectors.T
                lexical = (chars[part] @ self._label_chars).toarray()
                scored["title_lexical"][part] = self._per_occupation(lexical)
                scored["title_words"][part] = (
                    (t_words[part] @ self._document_words).toarray().astype(np.float32)
                )
            for name in _TITLE_SIGNALS:
                out[name][has_title] = scored[name][of_row]
        if has_text:
            x_text = [str(texts[i]) for i in has_text]
            xv = (
                self.embedder.encode(x_text)
                if text_vectors is None
                else np.asarray(text_vectors)[has_text]
            )
            words = self._words.transform(x_text)
            skill_rows = self._skill_matrix(x_text)
            for lo in range(0, len(has_text), _BATCH):
                rows = has_text[lo : lo + _BATCH]
                chunk = xv[lo : lo + _BATCH]
                out["text_embedding"][rows] = self._per_occupation(chunk @ self._label_vectors_.T)
                out["text_description"][rows] = chunk @ self._description_vectors.T
                out["text_lexical"][rows] = (
                    (words[lo : lo + _BATCH] @ self._document_words).toarray().astype(np.float32)
                )
                out["skills"][rows] = (
                    (skill_rows[lo : lo + _BATCH] @ self._occupation_skills)
                    .toarray()
                    .astype(np.float32)
                )
        return out

    def _skill_matrix(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Texts × skills, idf-weighted and unit length: the skills each text mentions."""
        rows, cols, vals = [], [], []
        for i, text in enumerate(texts):
            found = {m.skill for m in self.skills.matches(text)}
            weights = [float(self.skills.idf[s]) for s in found]
            norm = math.sqrt(sum(w * w for w in weights)) or 1.0
            for s, w in zip(found, weights, strict=True):
                rows.append(i)
                cols.append(s)
                vals.append(w / norm)
        return sparse.csr_matrix(
            (vals, (rows, cols)), shape=(len(texts), len(self.taxonomy.skills)), dtype=np.float32
        )

    def combine(self, signals: Mapping[str, FloatArray]) -> FloatArray:
        """The weighted mean of the signals each query has (queries × occupations): a query
        without a title is averaged over its text signals only."""
        first = next(iter(signals.values()))
        z = np.zeros_like(first)
        present = np.zeros((first.shape[0], 1), dtype=np.float32)
        for name, weight in self.weights.items():
            if weight:
                z += np.float32(weight) * signals[name]
                has = signals[name].any(axis=1, keepdims=True)
                present += np.float32(weight) * has
        return np.asarray(z / np.maximum(present, np.float32(1e-6)), dtype=np.float32)

    def probabilities(self, scores: FloatArray) -> FloatArray:
        """Softmax over all occupations of the combined scores."""
        logits = self.sharpness * scores
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float32)

    def infer_many(
        self,
        titles: Sequence[str | None],
        texts: Sequence[str | None],
        *,
        k: int = 5,
        title_vectors: Vectors | None = None,
        text_vectors: Vectors | None = None,
        min_confidence: float = 0.0,
    ) -> list[tuple[InferredOccupation, ...]]:
        """The top `k` occupations of each (title, text) pair, most likely first."""
        signals = self.signals(
            titles, texts, title_vectors=title_vectors, text_vectors=text_vectors
        )
        probabilities = self.probabilities(self.combine(signals))
        out: list[tuple[InferredOccupation, ...]] = []
        for row in range(len(titles)):
            title, text = titles[row], texts[row]
            if not (title and title.strip()) and not (text and text.strip()):
                out.append(())
                continue
            p = probabilities[row]
            top = np.argpartition(-p, min(k, self.n - 1))[:k]
            top = top[np.argsort(-p[top], kind="stable")]
            found: list[InferredOccupation] = []
            for j in top:
                confidence = float(p[j])
                if confidence < min_confidence:
                    break
                occ = self.taxonomy.occupations[int(j)]
                title_part = (
                    self.weights["title_embedding"] * signals["title_embedding"][row, j]
                    + self.weights["title_lexical"] * signals["title_lexical"][row, j]
                )
                text_part = sum(
                    self.weights[s] * signals[s][row, j]
                    for s in ("text_embedding", "text_description", "text_lexical", "skills")
                )
                from_title = bool(title and title.strip()) and title_part >= text_part
                span = str(title) if from_title else self._span(str(text or ""), int(j))
                found.append(
                    InferredOccupation(
                        esco_uri=occ.uri,
                        title=occ.label,
                        isco08=occ.isco08 or None,
                        confidence=round(confidence, 4),
                        source="title" if from_title else "text",
                        span=span,
                    )
                )
            out.append(tuple(found))
        return out

    def infer(
        self,
        title: str | None,
        text: str | None,
        *,
        k: int = 5,
        title_vector: Vectors | None = None,
        text_vector: Vectors | None = None,
        min_confidence: float = 0.0,
    ) -> tuple[InferredOccupation, ...]:
        """The top `k` occupations for one title and/or text."""
        return self.infer_many(
            [title],
            [text],
            k=k,
            title_vectors=None if title_vector is None else np.asarray(title_vector).reshape(1, -1),
            text_vectors=None if text_vector is None else np.asarray(text_vector).reshape(1, -1),
            min_confidence=min_confidence,
        )[0]

    def _span(self, text: str, occupation: int) -> str:
        """The words of `text` that point at the occupation: its essential or optional skills
        mentioned there, else the text's opening."""
        occ = self.taxonomy.occupations[occupation]
        wanted = set(occ.essential) | set(occ.optional)
        parts = [text[m.start : m.end] for m in self.skills.matches(text) if m.skill in wanted]
        if parts:
            return ", ".join(dict.fromkeys(parts))
        return text[:120]


# -- soft occupation similarity ------------------------------------------------------------------

SAME_OCCUPATION = 1.0
SAME_UNIT_GROUP = 0.5  # same 4-digit ISCO-08 unit group, different ESCO occupation
SAME_MINOR_GROUP = 0.15  # same 3-digit minor group
RELATED_BY_SKILLS = 0.4  # times the skill cosine, for occupations sharing essential skills


class OccupationSimilarity:
    """How close two occupations are, for scoring: 1 for the same ESCO occupation, partial for
    the same ISCO-08 unit (then minor) group, and a smaller partial for occupations that share
    essential skills (idf-weighted cosine of their skill sets, kept when at least
    `min_skill_cosine`). Without a taxonomy only URIs and ISCO codes are compared."""

    def __init__(
        self,
        taxonomy: Taxonomy | None = None,
        *,
        min_skill_cosine: float = 0.25,
        per_occupation: int = 25,
    ) -> None:
        self._related: dict[str, dict[str, float]] = {}
        if taxonomy is None:
            return
        idf = SkillExtractor(taxonomy).idf
        rows, cols, vals = [], [], []
        for i, occ in enumerate(taxonomy.occupations):
            for s in occ.essential:
                rows.append(i)
                cols.append(s)
                vals.append(float(idf[s]))
        m = sparse.csr_matrix(
            (vals, (rows, cols)),
            shape=(len(taxonomy.occupations), len(taxonomy.skills)),
            dtype=np.float32,
        )
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        m = sparse.diags(1.0 / norms) @ m
        cos = (m @ m.T).toarray()
        np.fill_diagonal(cos, 0.0)
        uris = [o.uri for o in taxonomy.occupations]
        for i, uri in enumerate(uris):
            top = np.argsort(-cos[i])[:per_occupation]
            self._related[uri] = {
                uris[j]: float(cos[i, j]) for j in top if cos[i, j] >= min_skill_cosine
            }

    def similarity(
        self, a_uri: str | None, a_isco: str | None, b_uri: str | None, b_isco: str | None
    ) -> float:
        if a_uri and b_uri and a_uri == b_uri:
            return SAME_OCCUPATION
        best = 0.0
        if a_isco and b_isco:
            if a_isco[:4] == b_isco[:4] and len(a_isco) >= 4:
                best = SAME_UNIT_GROUP
            elif a_isco[:3] == b_isco[:3] and len(a_isco) >= 3:
                best = SAME_MINOR_GROUP
        if a_uri and b_uri:
            skill_cos = self._related.get(a_uri, {}).get(b_uri, 0.0)
            best = max(best, RELATED_BY_SKILLS * skill_cos)
        return best


_Weighted = tuple[str | None, str | None, float]


def _coded(stated: Sequence[Occupation]) -> list[_Weighted]:
    return [(o.esco_uri, o.isco08, 1.0) for o in stated if o.esco_uri or o.isco08]


def soft_occupation_fit(
    seeker_stated: Sequence[Occupation],
    seeker_inferred: Sequence[InferredOccupation],
    posting_stated: Sequence[Occupation],
    posting_inferred: Sequence[InferredOccupation],
    similarity: OccupationSimilarity | None = None,
) -> float | None:
    """Expected similarity of the two sides' occupations: each side is a distribution over
    occupations — its stated, coded ones with weight 1 (they replace inferred ones), else its
    inferred ones weighted by confidence — and the fit is the sum over pairs of weight × weight
    × similarity, at most 1. A side stating several occupations counts by the best of them,
    not their sum. None when a side has nothing."""
    seeker_coded = _coded(seeker_stated)
    posting_coded = _coded(posting_stated)
    seeker = seeker_coded or [(o.esco_uri, o.isco08, o.confidence) for o in seeker_inferred]
    posting = posting_coded or [(o.esco_uri, o.isco08, o.confidence) for o in posting_inferred]
    if not seeker or not posting:
        return None
    sim = similarity if similarity is not None else _NO_TAXONOMY
    if seeker_coded:
        return max(_expected([s], posting, sim) for s in seeker)
    if posting_coded:
        return max(_expected(seeker, [p], sim) for p in posting)
    return _expected(seeker, posting, sim)


def _expected(a: list[_Weighted], b: list[_Weighted], sim: OccupationSimilarity) -> float:
    total = 0.0
    for a_uri, a_isco, a_w in a:
        for b_uri, b_isco, b_w in b:
            s = sim.similarity(a_uri, a_isco, b_uri, b_isco)
            if s:
                total += a_w * b_w * s
    return min(1.0, total)


_NO_TAXONOMY = OccupationSimilarity()
