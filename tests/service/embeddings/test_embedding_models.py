"""`JOBMATCH_EMBEDDING_MODEL` picks the embedder; each model keeps its own ESCO label vectors."""

from __future__ import annotations

import pytest

from matching.normalise import label_cache_path
from matching.taxonomy import Taxonomy
from service.app import load_embedder
from service.config import Settings


def test_the_setting_chooses_the_model_and_a_wider_one_is_refused() -> None:
    e5 = load_embedder(Settings(embedding_model="e5-small"))
    assert e5.name == "multilingual-e5-small-q4-query" and e5.dimension == 384
    minilm = load_embedder(Settings())
    assert minilm.name == "all-MiniLM-L6-v2"
    # 512-d vectors do not fit the 384-d column: a clear error at start-up, nothing stored.
    with pytest.raises(RuntimeError, match="512-d"):
        load_embedder(Settings(embedding_model="use-multilingual"))
    # The label-vector cache file of the text understanding is keyed by the model's name.
    taxonomy = Taxonomy.load()
    assert label_cache_path("c", e5.name, taxonomy) != label_cache_path("c", minilm.name, taxonomy)


def test_an_unknown_model_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="embedding_model"):
        Settings(embedding_model="word2vec")
