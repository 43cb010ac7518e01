"""Free-text normalisation, soft occupation matching and lexical relevance, on a small taxonomy
with the hashing test embedder (the slow test uses the real model on part of real ESCO)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from matching.embed import HashingEmbedder, Vectors
from matching.features import occupation_match, pair_features, semantic_fit
from matching.lexical import LexicalModel, reciprocal_rank_fusion
from matching.normalise import (
    SAME_UNIT_GROUP,
    OccupationNormaliser,
    OccupationSimilarity,
    SkillExtractor,
    label_cache_path,
    soft_occupation_fit,
)
from matching.profiles import (
    InferredOccupation,
    InferredSkill,
    Occupation,
    PostingProfile,
    SeekerProfile,
)
from matching.taxonomy import DEFAULT_TAXONOMY_PATH, Taxonomy

E = "http://data.europa.eu/esco/occupation/"
S = "http://data.europa.eu/esco/skill/"

TAXONOMY: dict[str, Any] = {
    "_meta": {
        "attribution": "This service uses the ESCO classification of the European Commission."
    },
    "skills": [
        {"uri": S + "forklift", "label": "operate forklift", "alt": ["drive forklift truck"]},
        {"uri": S + "stock", "label": "stock control", "alt": ["inventory management"]},
        {"uri": S + "weld", "label": "use welding equipment", "alt": ["weld metal parts"]},
        {"uri": S + "blueprint", "label": "read blueprints", "alt": ["read technical drawings"]},
        {"uri": S + "cook", "label": "prepare meals", "alt": ["cook dishes"]},
        {"uri": S + "hygiene", "label": "food hygiene", "alt": []},
        {"uri": S + "law", "label": "law", "alt": []},
    ],
    "occupations": [
        {
            "uri": E + "forklift",
            "label": "forklift operator",
            "alt": ["forklift driver", "reach truck operator"],
            "isco": "8344",
            "desc": "Forklift operators move goods in warehouses.",
            "essential": [0, 1],
            "optional": [],
        },
        {
            "uri": E + "crane",
            "label": "crane operator",
            "alt": ["tower crane driver"],
            "isco": "8343",
            "desc": "Crane operators lift heavy loads on building sites.",
            "essential": [3],
            "optional": [1],
        },
        {
            "uri": E + "welder",
            "label": "welder",
            "alt": ["metal welder", "welding technician"],
            "isco": "7212",
            "desc": "Welders join metal parts using welding equipment.",
            "essential": [2, 3],
            "optional": [],
        },
        {
            "uri": E + "pipewelder",
            "label": "pipe welder",
            "alt": ["pipeline welder"],
            "isco": "7212",
            "desc": "Pipe welders assemble and weld pipelines.",
            "essential": [2, 3],
            "optional": [0],
        },
        {
            "uri": E + "cook",
            "label": "cook",
            "alt": ["line cook", "kitchen cook"],
            "isco": "5120",
            "desc": "Cooks prepare meals in restaurant kitchens.",
            "essential": [4, 5],
            "optional": [],
        },
    ],
}


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(dimension=256, name="hashing/test")
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        return super().encode(texts)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.from_dict(TAXONOMY)


@pytest.fixture(scope="module")
def normaliser(taxonomy: Taxonomy) -> OccupationNormaliser:
    return OccupationNormaliser(taxonomy, HashingEmbedder(dimension=256))


def test_shipped_artifact_is_the_whole_occupation_pillar_with_attribution() -> None:
    tax = Taxonomy.load(DEFAULT_TAXONOMY_PATH)
    assert (
        tax.attribution == "This service uses the ESCO classification of the European Commission."
    )
    assert len(tax.occupations) == 3007
    assert sum(len(o.alt_labels) for o in tax.occupations) > 25_000
    assert all(len(o.isco08) == 4 and o.isco08.isdigit() for o in tax.occupations)
    assert all(0 <= s < len(tax.skills) for o in tax.occupations for s in o.essential)
    assert DEFAULT_TAXONOMY_PATH.stat().st_size < 5_000_000


def test_skill_extractor_finds_labels_in_running_text_with_their_span(taxonomy: Taxonomy) -> None:
    text = "I operated forklifts for years and did the stock control. Some law."
    found = SkillExtractor(taxonomy).extract(text)
    by_uri = {s.esco_uri: s for s in found}
    assert set(by_uri) == {S + "forklift", S + "stock"}  # "law" is too short a word to trust
    span = by_uri[S + "forklift"].span
    assert span is not None and text[span[0] : span[1]] == "operated forklifts"
    assert not any(s.implied for s in found)


def test_skill_extractor_prefers_the_longest_label_and_reads_alternative_labels(
    taxonomy: Taxonomy,
) -> None:
    found = SkillExtractor(taxonomy).extract("Can read technical drawings and weld metal parts.")
    assert [s.esco_uri for s in found] == [S + "blueprint", S + "weld"]
    assert [s.name for s in found] == ["read blueprints", "use welding equipment"]


def test_implied_skills_are_marked_and_less_confident(taxonomy: Taxonomy) -> None:
    occ = InferredOccupation(E + "cook", "cook", "5120", 0.8, "title", "chef")
    implied = SkillExtractor(taxonomy).implied([occ])
    assert {s.esco_uri for s in implied} == {S + "cook", S + "hygiene"}
    assert all(s.implied and s.span is None and s.confidence == pytest.approx(0.4) for s in implied)
    assert SkillExtractor(taxonomy).implied([occ], min_confidence=0.9) == ()


def test_title_finds_occupation_by_alternative_label(normaliser: OccupationNormaliser) -> None:
    top = normaliser.infer("Forklift driver", None)
    assert top[0].esco_uri == E + "forklift"
    assert top[0].source == "title" and top[0].span == "Forklift driver"
    assert [o.confidence for o in top] == sorted((o.confidence for o in top), reverse=True)
    assert sum(o.confidence for o in top) <= 1.0 + 1e-6


def test_a_typo_in_the_title_still_finds_the_occupation(normaliser: OccupationNormaliser) -> None:
    # the hashing embedder knows nothing of "weldre": only the character n-grams can help
    assert normaliser.infer("pipe weldre", None)[0].esco_uri == E + "pipewelder"


def test_text_alone_infers_from_the_essential_skills_it_mentions(
    normaliser: OccupationNormaliser,
) -> None:
    top = normaliser.infer(None, "Good at reading blueprints and welding metal parts.")
    assert top[0].isco08 == "7212"
    assert top[0].source == "text"
    assert "reading blueprints" in top[0].span


def test_nothing_to_read_infers_nothing(normaliser: OccupationNormaliser) -> None:
    assert normaliser.infer(None, None) == ()
    assert normaliser.infer("  ", "") == ()
    many = normaliser.infer_many(["cook", None], [None, None], k=2)
    assert len(many[0]) == 2 and many[1] == ()


def test_precomputed_text_vectors_are_used_instead_of_encoding(taxonomy: Taxonomy) -> None:
    embedder = CountingEmbedder()
    norm = OccupationNormaliser(taxonomy, embedder)
    before = embedder.calls
    text = "prepare meals and food hygiene"
    vector = HashingEmbedder(dimension=256).encode([text])
    norm.infer_many([None], [text], text_vectors=vector)
    assert embedder.calls == before  # no title, text vector given: nothing encoded


def test_label_vectors_are_cached_per_model_and_taxonomy(
    taxonomy: Taxonomy, tmp_path: Path
) -> None:
    first = CountingEmbedder()
    OccupationNormaliser(taxonomy, first, cache_dir=tmp_path)
    path = label_cache_path(tmp_path, first.name, taxonomy)
    assert path.is_file() and first.calls == 1
    second = CountingEmbedder()
    cached = OccupationNormaliser(taxonomy, second, cache_dir=tmp_path)
    assert second.calls == 0 and cached.encode_seconds == 0.0
    assert cached.infer("line cook", None)[0].esco_uri == E + "cook"
    # another taxonomy content is another file
    other = taxonomy.without_labels([(E + "cook", "line cook")])
    assert label_cache_path(tmp_path, first.name, other) != path
    # a file of the wrong shape is ignored and rewritten
    np.save(path, np.zeros((3, 256), dtype=np.float32))
    third = CountingEmbedder()
    OccupationNormaliser(taxonomy, third, cache_dir=tmp_path)
    assert third.calls == 1 and np.load(path).shape[0] > 3


def test_held_out_labels_leave_the_normaliser(taxonomy: Taxonomy) -> None:
    smaller = taxonomy.without_labels([(E + "forklift", "Forklift Driver")])
    forklift = smaller.occupations[smaller.occupation_index(E + "forklift") or 0]
    assert forklift.alt_labels == ("reach truck operator",)
    assert smaller.digest != taxonomy.digest


def _inferred(uri: str, isco: str, confidence: float) -> InferredOccupation:
    return InferredOccupation(E + uri, uri, isco, confidence, "title", uri)


def test_soft_occupation_fit_same_group_and_confidence(taxonomy: Taxonomy) -> None:
    sim = OccupationSimilarity(taxonomy)
    welder = _inferred("welder", "7212", 0.8)
    pipe = _inferred("pipewelder", "7212", 0.5)
    cook = _inferred("cook", "5120", 0.9)
    assert soft_occupation_fit((), (welder,), (), (welder,), sim) == pytest.approx(0.64)
    same_group = soft_occupation_fit((), (welder,), (), (pipe,), sim)
    assert same_group == pytest.approx(0.8 * 0.5 * SAME_UNIT_GROUP)
    assert soft_occupation_fit((), (welder,), (), (cook,), sim) == 0.0
    assert soft_occupation_fit((), (), (), (cook,), sim) is None


def test_occupations_sharing_essential_skills_are_related(taxonomy: Taxonomy) -> None:
    sim = OccupationSimilarity(taxonomy)
    # crane operator (8343) and welder (7212) share only "read blueprints"
    related = sim.similarity(E + "crane", "8343", E + "welder", "7212")
    assert 0.0 < related < SAME_UNIT_GROUP
    assert sim.similarity(E + "crane", "8343", E + "cook", "5120") == 0.0
    # without a taxonomy only codes count
    assert OccupationSimilarity().similarity(E + "crane", "8343", E + "welder", "7212") == 0.0


def test_stated_occupation_codes_come_before_inferred_ones(taxonomy: Taxonomy) -> None:
    sim = OccupationSimilarity(taxonomy)
    seeker = SeekerProfile(
        desired_occupations=(Occupation("cook", "5120", E + "cook"),),
        inferred_occupations=(_inferred("welder", "7212", 0.9),),
    )
    welding_job = PostingProfile(
        title="Welder", inferred_occupations=(_inferred("welder", "7212", 1.0),)
    )
    kitchen_job = PostingProfile(
        title="Chef", inferred_occupations=(_inferred("cook", "5120", 0.7),)
    )
    assert occupation_match(seeker, welding_job, sim) == 0.0  # stated cook, not the inferred welder
    assert occupation_match(seeker, kitchen_job, sim) == pytest.approx(0.7)
    # both sides stated: the stated rule as before, inferred ones ignored
    stated_job = PostingProfile(title="Cook", occupation=Occupation("cook", "5120", E + "cook"))
    assert occupation_match(seeker, stated_job, sim) == 1.0
    # nothing stated: inferred on both sides
    free = SeekerProfile(
        headline="welder", inferred_occupations=(_inferred("welder", "7212", 0.5),)
    )
    assert occupation_match(free, welding_job, sim) == pytest.approx(0.5)


def test_inferred_skills_count_as_the_posting_requirements_and_the_seeker_skills() -> None:
    seeker = SeekerProfile(
        inferred_skills=(
            InferredSkill(S + "weld", "use welding equipment", 0.9, "text", (0, 5)),
            InferredSkill(S + "cook", "prepare meals", 0.4, "occupation", None, True),
        )
    )
    posting = PostingProfile(
        title="Welder",
        inferred_skills=(
            InferredSkill(S + "weld", "use welding equipment", 0.9, "text", (0, 5)),
            InferredSkill(S + "cook", "prepare meals", 0.9, "text", (9, 14)),
        ),
    )
    pair = pair_features(seeker, posting, cosine=None)
    # the implied skill does not count as the seeker's
    assert pair.skills.matched_required == ("use welding equipment",)
    assert pair.skills.missing_required == ("prepare meals",)
    assert pair.values["required_skills"] == 0.5


def test_lexical_similarity() -> None:
    corpus = [
        "forklift operator warehouse",
        "cook kitchen restaurant",
        "welder metal workshop",
        "warehouse order picker",
    ]
    model = LexicalModel.fit(corpus)
    assert model.similarity("forklift operator", "Forklift operators") == pytest.approx(1.0)
    assert model.similarity("forklift operator", "cook in a kitchen") == 0.0
    # the rarer shared word says more than the common one
    rare = model.similarity("forklift", "forklift warehouse")
    common = model.similarity("warehouse", "forklift warehouse")
    assert rare is not None and common is not None and rare > common
    assert model.similarity("", "cook") is None
    m = model.matrix(["forklift operator", "cook"])
    assert m.shape == (2, len(model.idf))
    assert (m @ m.T).toarray()[0, 1] == 0.0


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [4, 2, 5]], k=60)
    assert fused[0] == 2  # second in both beats first in only one
    assert set(fused) == {1, 2, 3, 4, 5}
    assert reciprocal_rank_fusion([[1, 2, 3]], limit=2) == [1, 2]


def test_semantic_fit_is_monotone_and_does_not_tie() -> None:
    cosines = np.linspace(-0.2, 1.0, 121)
    values = [semantic_fit(float(c)) for c in cosines]
    assert all(0.0 < v < 1.0 for v in values)
    assert all(b > a for a, b in itertools.pairwise(values))
    assert not math.isclose(semantic_fit(0.75), semantic_fit(0.85))


@pytest.mark.slow
def test_real_model_reads_a_nurse_title() -> None:
    """All-MiniLM-L6-v2 on the health, care and driving occupations of the real taxonomy."""
    from matching.embed import SentenceTransformerEmbedder

    tax = Taxonomy.load().only(lambda o: o.isco08[:2] in {"22", "32", "53", "83"})
    norm = OccupationNormaliser(tax, SentenceTransformerEmbedder())
    top = norm.infer("registered nurse", None)
    assert "2221" in {o.isco08 for o in top}
    assert norm.infer("lorry driver", None)[0].isco08 == "8332"
    text = norm.infer(None, "I washed and fed elderly residents and helped them get dressed.")
    assert text[0].isco08[:2] in {"53", "32"}


def test_titles_are_encoded_only_when_needed(taxonomy: Taxonomy) -> None:
    embedder = CountingEmbedder()
    norm = OccupationNormaliser(taxonomy, embedder)
    text = "prepare meals"
    vector = HashingEmbedder(dimension=256).encode([text])
    base = embedder.calls
    # a label (once bare of what ads add) takes the label's vector
    norm.infer("Senior line cook (m/f/d) - full time", text, text_vector=vector)
    assert embedder.calls == base
    # an unknown title with a text is read by its words; without a text it is encoded, once
    norm.infer("kitchen wizard", text, text_vector=vector)
    assert embedder.calls == base
    norm.infer("kitchen wizard", None)
    norm.infer("kitchen wizard", None)
    assert embedder.calls == base + 1
    always = OccupationNormaliser(taxonomy, embedder, encode_titles="always")
    before = embedder.calls
    always.infer("grill master", text, text_vector=vector)
    assert embedder.calls == before + 1


def test_label_groups_give_each_occupations_best_label() -> None:
    """`_per_occupation`'s gather by groups equals the max over each occupation's labels."""
    from matching.normalise import _label_groups

    rng = np.random.default_rng(3)
    counts = np.array([1, 2, 3, 5, 8, 9, 17, 1, 40, 4])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    scores = rng.standard_normal((6, int(counts.sum()))).astype(np.float32)
    best = np.empty((6, len(counts)), dtype=np.float32)
    for occupations, columns in _label_groups(starts, int(counts.sum())):
        best[:, occupations] = scores[:, columns.ravel()].reshape(6, *columns.shape).max(axis=2)
    for o, (start, count) in enumerate(zip(starts, counts, strict=True)):
        np.testing.assert_array_equal(best[:, o], scores[:, start : start + count].max(axis=1))


def test_a_title_repeated_in_a_batch_scores_as_it_does_alone(taxonomy: Taxonomy) -> None:
    """Each distinct title is scored once per batch; every record gets what it would alone,
    also where the same title is encoded for one record and not for another (no text)."""
    norm = OccupationNormaliser(taxonomy, HashingEmbedder(dimension=256))
    norm.forget_titles()
    titles = ["kitchen wizard", "Line cook", "kitchen wizard", None, "Line cook", "kitchen wizard"]
    texts = ["prepare meals", "prepare meals", None, "drive a forklift", None, "serve guests"]
    together = norm.signals(titles, texts)
    for i, (title, text) in enumerate(zip(titles, texts, strict=True)):
        norm.forget_titles()  # as in the batch: no title remembered from an earlier call
        alone = norm.signals([title], [text])
        for name, values in together.items():
            np.testing.assert_allclose(values[i], alone[name][0], rtol=1e-6, atol=1e-7)
    assert together["title_lexical"][0].any() and not together["title_lexical"][3].any()
