"""Text understanding for the service: ESCO occupations and skills inferred from free text on
every write, and the taxonomy-aware occupation similarity the scorer uses (`matching.normalise`).

What a record says stays as it was given; what was read from its text is stored beside it in
the profile's `inferred` block (`records.schemas.Inferred`), with a confidence and the words it
came from. A caseworker corrects it by stating the occupation or skill: stated codes always win.

The label vectors (every ESCO label and description, ~39k short texts) are encoded once per
embedding model and taxonomy, kept in a file under the data directory, and shared by every app
built in one process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from matching.embed import Embedder
from matching.normalise import OccupationNormaliser, OccupationSimilarity, label_cache_path
from matching.taxonomy import DEFAULT_TAXONOMY_PATH, Taxonomy

log = logging.getLogger(__name__)

# How many inferred occupations a record keeps, and the least confidence worth keeping: below
# it an occupation only adds noise to the soft occupation fit and to explanations.
INFERRED_OCCUPATIONS = 5
MIN_OCCUPATION_CONFIDENCE = 0.02
INFERRED_SKILLS = 30


@dataclass(frozen=True)
class TextUnderstanding:
    taxonomy: Taxonomy
    normaliser: OccupationNormaliser
    similarity: OccupationSimilarity

    def infer(
        self,
        kind: str,
        profiles: Sequence[dict[str, Any]],
        vectors: np.ndarray | None = None,
    ) -> list[dict[str, Any] | None]:
        """The `inferred` block of each record (None for a seeker who opted out of profiling:
        nothing is read from their text). `vectors`, one row per record, are the embeddings of
        their canonical texts when the caller has them (only the short titles are encoded)."""
        titles: list[str | None] = []
        texts: list[str | None] = []
        for p in profiles:
            if kind == "seeker" and not p.get("personalised_ranking", True):
                titles.append(None)
                texts.append(None)
                continue
            title, text = _title_and_text(kind, p)
            titles.append(title)
            texts.append(text)
        occupations = self.normaliser.infer_many(
            titles,
            texts,
            k=INFERRED_OCCUPATIONS,
            text_vectors=vectors,
            min_confidence=MIN_OCCUPATION_CONFIDENCE,
        )
        out: list[dict[str, Any] | None] = []
        for title, text, found in zip(titles, texts, occupations, strict=True):
            if title is None and text is None:
                out.append(None)
                continue
            skills = []
            for source, words in (("title", title), ("text", text)):
                for s in self.normaliser.skills.extract(words, source=source):
                    span = words[s.span[0] : s.span[1]] if (words and s.span) else None
                    skills.append(
                        {
                            "esco_uri": s.esco_uri,
                            "name": s.name,
                            "confidence": round(s.confidence, 4),
                            "source": source,
                            "span": span,
                        }
                    )
            unique = {s["esco_uri"]: s for s in reversed(skills)}  # the title's mention wins
            out.append(
                {
                    "occupations": [
                        {
                            "esco_uri": o.esco_uri,
                            "title": o.title,
                            "isco08": o.isco08,
                            "confidence": o.confidence,
                            "source": o.source,
                            "span": o.span[:200],
                        }
                        for o in found
                    ],
                    "skills": list(unique.values())[:INFERRED_SKILLS],
                    "taxonomy": self.taxonomy.digest[:12],
                }
            )
        return out


def _title_and_text(kind: str, p: dict[str, Any]) -> tuple[str | None, str | None]:
    """What a record calls itself (a posting's title; a seeker's headline) and what it says."""
    if kind == "posting":
        text = " ".join(
            [p.get("description") or ""]
            + [s["name"] for s in p.get("skills_required") or ()]
            + [s["name"] for s in p.get("skills_preferred") or ()]
        )
        return p.get("title"), text.strip() or None
    wanted = ", ".join(o["title"] for o in p.get("desired_occupations") or ())
    text = " ".join(
        [wanted, p.get("summary") or ""] + [s["name"] for s in p.get("skills") or ()]
    ).strip()
    return p.get("headline") or wanted or None, text or None


_loaded: dict[tuple[str, str, str], TextUnderstanding] = {}
_lock = threading.Lock()


class LabelVectorsNotCached(LookupError):
    """The ESCO label vectors of this model and taxonomy are not in the cache directory yet."""


def load(
    embedder: Embedder, *, taxonomy_path: Path | None, cache_dir: Path, may_encode: bool = True
) -> TextUnderstanding:
    """The understanding for this embedding model and taxonomy, built once per process (the
    label vectors from the cache file when it exists). With `may_encode=False` a missing cache
    file raises LabelVectorsNotCached instead of encoding the labels in this process (the
    parent of pre-forked workers must run no model before it forks: service/prefork.py)."""
    path = taxonomy_path or DEFAULT_TAXONOMY_PATH
    key = (embedder.name, str(path), str(cache_dir))
    with _lock:
        if key not in _loaded:
            taxonomy = Taxonomy.load(path)
            cached = label_cache_path(cache_dir, embedder.name, taxonomy)
            if not may_encode and not cached.is_file():
                raise LabelVectorsNotCached(str(cached))
            # Job titles are the strongest evidence in real ads ("Registered nurse (m/f/d),
            # surgical ward"): their own vector is worth one short encode per record.
            normaliser = OccupationNormaliser(
                taxonomy, embedder, cache_dir=cache_dir, encode_titles="always"
            )
            if normaliser.encode_seconds:
                log.info("encoded ESCO labels in %.1f s", normaliser.encode_seconds)
            _loaded[key] = TextUnderstanding(taxonomy, normaliser, OccupationSimilarity(taxonomy))
        return _loaded[key]
