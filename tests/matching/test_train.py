"""Tests for matching.learning: labels, features, time split, the learned scorer and its artifact,
ranking and fairness metrics, and the activation gate.

Training data come from seed.feedback: synthetic ranked lists whose outcomes follow a hidden
preference (required skills and distance matter far more than the default weights say), with and
without outcomes biased against women. Metric oracles are hand computations and
``sklearn.metrics.ndcg_score``.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.metrics import ndcg_score

from matching.features import FEATURE_NAMES
from matching.learning import (
    BASELINE,
    Example,
    GateResult,
    InsufficientData,
    LinearModelScorer,
    ScorerTrainer,
    TrainingReport,
    compare,
    evaluate,
    feature_matrix,
    label_from_events,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
    time_split,
    train_and_evaluate,
)
from matching.score import WeightedSumScorer, total
from seed.feedback import FUNNEL, simulate_labels, synthetic_items

FEW = settings(max_examples=60, deadline=None)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BIAS = {"gender": {"female": -2.5}}


def to_examples(items: Sequence[Mapping[str, Any]], outcomes: Sequence[str]) -> list[Example]:
    out = []
    for it, outcome in zip(items, outcomes, strict=True):
        label = label_from_events(FUNNEL[outcome])
        assert label is not None
        out.append(
            Example(
                list_id=it["list_id"],
                seeker_id=it["seeker_id"],
                posting_id=it["posting_id"],
                features=it["features"],
                label=label,
                at=it["at"],
                groups=it["groups"],
            )
        )
    return out


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return synthetic_items(n_lists=100, list_size=25, seed=5)


@pytest.fixture(scope="module")
def examples(items: list[dict[str, Any]]) -> list[Example]:
    return to_examples(items, simulate_labels(items, seed=11))


@pytest.fixture(scope="module")
def biased_examples(items: list[dict[str, Any]]) -> list[Example]:
    return to_examples(items, simulate_labels(items, seed=11, bias=BIAS))


@pytest.fixture(scope="module")
def report(examples: list[Example]) -> TrainingReport:
    d = WeightedSumScorer()
    return train_and_evaluate(examples, version="learned-v1", active=d, default=d)


@pytest.fixture(scope="module")
def biased_report(biased_examples: list[Example]) -> TrainingReport:
    d = WeightedSumScorer()
    return train_and_evaluate(biased_examples, version="learned-biased", active=d, default=d)


features_st = st.fixed_dictionaries(
    {name: st.none() | st.floats(0.0, 1.0, allow_nan=False) for name in FEATURE_NAMES}
)


def ex(
    list_id: str,
    label: float,
    *,
    at: datetime = T0,
    seeker: str | None = None,
    groups: Mapping[str, str] | None = None,
    **features: float | None,
) -> Example:
    return Example(
        list_id=list_id,
        seeker_id=seeker or f"s-{list_id}-{label}-{sorted(features.items())}",
        posting_id=f"p-{list_id}",
        features=features,
        label=label,
        at=at,
        groups=groups or {},
    )


# --------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------


def test_label_mapping_best_event_wins() -> None:
    assert label_from_events(["hired"]) == 3.0
    assert label_from_events(["interviewed"]) == 2.0
    for e in ("shortlist", "shortlisted", "contact", "contacted", "applied"):
        assert label_from_events([e]) == 1.0
    for e in ("reject", "rejected", "not_hired"):
        assert label_from_events([e]) == 0.0
    # not_hired after an interview still counts the interview; later rejection keeps shortlist
    assert label_from_events(["shortlist", "applied", "interviewed", "not_hired"]) == 2.0
    assert label_from_events(["shortlist", "reject"]) == 1.0
    assert label_from_events(["reject", "shortlist", "applied", "hired"]) == 3.0
    assert label_from_events(["HIRED "]) == 3.0


def test_label_unlabelled_and_unknown_events() -> None:
    assert label_from_events([]) is None
    assert label_from_events(["override"]) is None
    assert label_from_events(["override", "contact"]) == 1.0
    with pytest.raises(ValueError, match="unknown event 'promoted'"):
        label_from_events(["shortlist", "promoted"])


def test_example_rejects_bad_labels() -> None:
    with pytest.raises(ValueError, match="label"):
        ex("a", -1.0)
    with pytest.raises(ValueError, match="label"):
        ex("a", math.nan)


# --------------------------------------------------------------------------------------------
# Features: protected attributes cannot enter
# --------------------------------------------------------------------------------------------


def test_feature_matrix_columns_unknowns_and_extra_keys() -> None:
    e = ex("a", 1.0, semantic=0.5, distance=None, languages=1.0, gender=1.0, age=0.3)
    x = feature_matrix([e])
    assert x.shape == (1, len(FEATURE_NAMES))
    expected = [0.5 if n == "semantic" else 1.0 if n == "languages" else 0.0 for n in FEATURE_NAMES]
    assert x[0].tolist() == expected
    with pytest.raises(ValueError, match="not finite"):
        feature_matrix([ex("a", 1.0, semantic=math.inf)])


def test_groups_change_nothing_in_features_fit_or_scores(
    examples: list[Example], report: TrainingReport
) -> None:
    rng = random.Random(3)
    labels = ["female", "male", "non_binary", "unknown"]
    shuffled = [
        replace(e, groups={"gender": rng.choice(labels), "disability": rng.choice(["true", "no"])})
        for e in examples
    ]
    erased = [replace(e, groups={}) for e in examples]
    x = feature_matrix(examples)
    assert np.array_equal(x, feature_matrix(shuffled))
    assert np.array_equal(x, feature_matrix(erased))
    train, _ = time_split(examples)
    train_shuffled, _ = time_split(shuffled)
    a = fit_scorer(ScorerTrainer(), train, "a")
    b = fit_scorer(ScorerTrainer(), train_shuffled, "b")
    assert a.weights == b.weights
    assert a.intercept == b.intercept
    assert a.weights == report.scorer.weights
    for e, s in zip(examples[:200], shuffled[:200], strict=True):
        assert a.score(e.features) == b.score(s.features)


# --------------------------------------------------------------------------------------------
# Time split
# --------------------------------------------------------------------------------------------


def test_time_split_holds_out_latest_whole_lists(examples: list[Example]) -> None:
    shuffled = list(examples)
    random.Random(0).shuffle(shuffled)
    train, holdout = time_split(shuffled, 0.25)
    assert len(train) + len(holdout) == len(examples)
    train_lists = {e.list_id for e in train}
    hold_lists = {e.list_id for e in holdout}
    assert not train_lists & hold_lists
    assert max(e.at for e in train) < min(e.at for e in holdout)
    assert 0.25 <= len(holdout) / len(examples) < 0.25 + 25 / len(examples)
    # 100 lists of 25, one a day: the last 25 days are held out
    assert hold_lists == {f"list-{i:04d}" for i in range(75, 100)}


def test_time_split_keeps_simultaneous_lists_together() -> None:
    rows = []
    for i, day in enumerate([0, 1, 2, 3, 3, 3]):
        rows += [
            ex(f"l{i}", float(j % 2), at=T0 + timedelta(days=day), seeker=f"s{j}") for j in range(4)
        ]
    train, holdout = time_split(rows, 0.2)  # 4.8 examples wanted; day 3 holds 3 lists
    assert {e.list_id for e in holdout} == {"l3", "l4", "l5"}
    assert {e.list_id for e in train} == {"l0", "l1", "l2"}
    # a list's time is its earliest example's: l1 (day 1, one row from day -9) is older than l0
    late = [*rows[:4], replace(rows[4], at=T0 - timedelta(days=9)), *rows[5:8]]
    train, holdout = time_split(late, 0.1)
    assert {e.list_id for e in holdout} == {"l0"}
    assert {e.list_id for e in train} == {"l1"}
    assert time_split([], 0.3) == ([], [])
    with pytest.raises(ValueError, match="holdout_fraction"):
        time_split(rows, 1.0)


# --------------------------------------------------------------------------------------------
# Training: the learned scorer finds the hidden preference
# --------------------------------------------------------------------------------------------


def test_trained_scorer_beats_default_on_heldout(report: TrainingReport) -> None:
    cand, dflt = report.candidate, report.default
    assert report.train_size == 1875 and report.holdout_size == 625
    assert report.train_to < report.holdout_from
    assert cand["ndcg_at_k"] >= dflt["ndcg_at_k"] + 0.08
    assert cand["recall_at_k"] > dflt["recall_at_k"]
    assert cand["auc"] > dflt["auc"] + 0.05
    assert cand["mrr"] > dflt["mrr"]
    w = report.scorer.weights
    # the hidden preference: required skills 4, distance 3, semantic 1, nothing else
    assert w["required_skills"] > w["distance"] > w["semantic"] > 0
    assert w["distance"] > 2.0
    for name in ("occupation", "preferred_skills", "salary", "employment_type", "education"):
        assert abs(w[name]) < 0.6, name
    assert report.gate.passed, report.gate.reasons


@given(features=features_st)
@FEW
def test_contributions_sum_to_score(
    report: TrainingReport, features: dict[str, float | None]
) -> None:
    scorer = report.scorer
    c = scorer.contributions(features)
    assert list(c) == [*FEATURE_NAMES, BASELINE]
    assert abs(sum(c.values()) - scorer.score(features)) <= 1e-9
    assert scorer.score(features) == total(c)
    x = np.array([features[n] or 0.0 for n in FEATURE_NAMES])
    w = np.array([scorer.weights[n] for n in FEATURE_NAMES])
    assert abs(float(x @ w) + scorer.intercept - scorer.score(features)) <= 1e-9
    p = scorer.probability(features)
    assert 0.0 < p < 1.0
    assert abs(math.log(p / (1 - p)) - scorer.score(features)) < 1e-6


def test_json_round_trip_gives_identical_scores(
    report: TrainingReport, examples: list[Example]
) -> None:
    art = json.loads(json.dumps(report.scorer.to_json(), allow_nan=False))
    assert art["format"] == "jobmatch.linear-scorer"
    assert set(art["weights"]) == set(FEATURE_NAMES)
    again = LinearModelScorer.from_json(art)
    assert again.version == "learned-v1"
    assert again.metadata == report.scorer.metadata
    for e in examples:
        assert again.contributions(e.features) == report.scorer.contributions(e.features)
    assert evaluate(again, examples[-300:]) == evaluate(report.scorer, examples[-300:])


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"format": "pickle"}, "not a jobmatch.linear-scorer"),
        ({"format_version": 2}, "format_version"),
        ({"weights": {"gender": 1.0}}, "unknown features"),
        ({"weights": {"semantic": True}}, "must be a number"),
        ({"weights": {"semantic": "1"}}, "must be a number"),
        ({"intercept": math.inf}, "finite"),
        ({"weights": []}, "weights must be an object"),
    ],
)
def test_from_json_rejects_bad_artifacts(
    report: TrainingReport, patch: dict[str, Any], message: str
) -> None:
    art = {**report.scorer.to_json(), **patch}
    with pytest.raises(ValueError, match=message):
        LinearModelScorer.from_json(art)


def fit_scorer(trainer: ScorerTrainer, rows: Sequence[Example], version: str) -> LinearModelScorer:
    return trainer.fit(feature_matrix(rows), [e.label for e in rows]).to_scorer(version)


def test_trainer_conventions() -> None:
    t = ScorerTrainer(C=0.5, class_weight=None)
    assert t.get_params() == {
        "C": 0.5,
        "class_weight": None,
        "grade_weighted": True,
        "max_iter": 1000,
    }
    assert not hasattr(t, "coef_")
    with pytest.raises(NotFittedError):
        t.to_scorer("x")
    assert t.set_params(C=2.0) is t and t.C == 2.0
    with pytest.raises(ValueError, match="Invalid parameter"):
        t.set_params(penalty="l1")
    rows = [ex("a", 0.0, semantic=v / 10) for v in range(10)]
    with pytest.raises(InsufficientData):
        t.fit(feature_matrix(rows), [e.label for e in rows])
    rows.append(ex("a", 3.0, semantic=1.0))
    assert t.fit(feature_matrix(rows), [e.label for e in rows]) is t
    assert t.n_examples_ == 11 and t.n_positive_ == 1
    assert t.n_features_in_ == len(FEATURE_NAMES)
    assert t.to_scorer("x").weights["semantic"] > 0
    # a sample weight of 2 is the same as the row written twice
    doubled = t.fit(feature_matrix(rows + rows[-1:]), [e.label for e in rows + rows[-1:]]).coef_
    weights = [1.0] * 10 + [2.0]
    weighted = t.fit(feature_matrix(rows), [e.label for e in rows], sample_weight=weights).coef_
    assert np.allclose(doubled, weighted, atol=1e-4)
    with pytest.raises(ValueError, match=">= 0"):
        t.fit(feature_matrix(rows), [-1.0] + [e.label for e in rows[1:]])
    with pytest.raises(ValueError, match="columns"):
        ScorerTrainer().fit([[0.0], [1.0]], [0.0, 1.0]).to_scorer("x")


def test_insufficient_data_names_needed_counts(examples: list[Example]) -> None:
    d = WeightedSumScorer()
    few = [e for e in examples if e.list_id < "list-0010"]  # 250 examples, 10 lists
    with pytest.raises(InsufficientData) as info:
        train_and_evaluate(few, version="x", active=d, default=d)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.needed["train"] == 200 and err.needed["holdout"] == 50
    assert err.have["train"] + err.have["holdout"] == 250
    msg = str(err)
    assert msg.startswith("need at least 200 labelled examples with both positive and negative")
    assert "and 50 (at least 5 positive) in the held-out period; have " in msg
    no_pos = [replace(e, label=0.0) for e in examples]
    with pytest.raises(InsufficientData, match="at least 20 positive"):
        train_and_evaluate(no_pos, version="x", active=d, default=d)
    # custom thresholds
    ok = train_and_evaluate(few, version="x", active=d, default=d, min_train=150, min_holdout=40)
    assert ok.train_size + ok.holdout_size == 250


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def test_metrics_hand_computed() -> None:
    ranked = [0.0, 3.0, 1.0, 0.0, 2.0]
    dcg = 0 / math.log2(2) + 3 / math.log2(3) + 1 / math.log2(4)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, 3) == pytest.approx(dcg / idcg, abs=1e-12)
    assert ndcg_at_k(ranked, 3) == pytest.approx(0.502491, abs=1e-6)
    assert ndcg_at_k([3.0, 2.0, 1.0, 0.0], 10) == pytest.approx(1.0)
    assert ndcg_at_k([0.0, 0.0], 10) is None
    assert recall_at_k(ranked, 3) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, 1) == 0.0
    assert recall_at_k([0.0], 5) is None
    assert reciprocal_rank(ranked) == 0.5
    assert reciprocal_rank([0.0, 0.0]) is None
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k(ranked, 0)


def test_ndcg_agrees_with_sklearn() -> None:
    rng = np.random.default_rng(8)
    for _ in range(50):
        n = int(rng.integers(2, 30))
        labels = rng.integers(0, 4, size=n).astype(float)
        if labels.max() == 0:
            continue
        scores = rng.permutation(n).astype(float)  # no ties
        order = np.argsort(-scores)
        for k in (1, 5, 10):
            ours = ndcg_at_k(labels[order].tolist(), k)
            ref = ndcg_score([labels], [scores], k=k)
            assert ours == pytest.approx(ref, abs=1e-12)


def test_evaluate_tiny_example_by_hand() -> None:
    g = {"gender": "female"}, {"gender": "male"}
    rows = [
        # list A: by semantic the order is a1 (0), a2 (1), a3 (2), a4 (0)
        ex("A", 0.0, seeker="a1", groups=g[0], semantic=0.9),
        ex("A", 1.0, seeker="a2", groups=g[1], semantic=0.8),
        ex("A", 2.0, seeker="a3", groups=g[0], semantic=0.7),
        ex("A", 0.0, seeker="a4", semantic=0.1),  # no consent
        # list B: b1 (3), b2 (0)
        ex("B", 3.0, seeker="b1", groups=g[1], semantic=0.6),
        ex("B", 0.0, seeker="b2", groups=g[1], semantic=0.5),
        # list C: no positive
        ex("C", 0.0, seeker="c1", groups=g[0], semantic=0.5),
    ]
    scorer = WeightedSumScorer({"semantic": 1.0}, version="sem")
    m = evaluate(scorer, rows, k=2, attributes=("gender", "age_band"))
    json.dumps(m, allow_nan=False)
    assert (m["scorer_version"], m["k"], m["examples"], m["positives"]) == ("sem", 2, 7, 3)
    assert (m["lists"], m["lists_with_positive"]) == (3, 2)
    ndcg_a = (1 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert m["ndcg_at_k"] == pytest.approx((ndcg_a + 1.0) / 2)
    assert m["recall_at_k"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["mrr"] == pytest.approx((1 / 2 + 1) / 2)
    # AUC over all 7: positives 0.8, 0.7, 0.6 vs negatives 0.9, 0.1, 0.5, 0.5
    assert m["auc"] == pytest.approx(9 / 12)
    fair = m["fairness"]["gender"]
    # top 2: A -> a1 (f), a2 (m); B -> b1, b2 (m, m); C -> c1 (f)
    assert fair["totals"] == {"female": 3, "male": 3}
    assert fair["selected"] == {"female": 2, "male": 3}
    assert fair["unknown"] == 1 and fair["known"] == 6
    assert fair["impact_ratios"] == {"female": pytest.approx(2 / 3), "male": 1.0}
    assert fair["min_impact_ratio"] == pytest.approx(2 / 3)
    assert fair["min_impact_group"] == "female"
    assert 0.0 <= fair["p_lower"]["female"] <= 1.0
    assert fair["lists_with_two_groups"] == 1  # only list A mixes known groups
    # NDKL of A's top 2 known (f, m) against A's known pool (f 2/3, m 1/3), Geyik et al. 2019
    kl1 = math.log(1 / (2 / 3))
    kl2 = 0.5 * math.log(0.5 / (2 / 3)) + 0.5 * math.log(0.5 / (1 / 3))
    z = 1 + 1 / math.log2(3)
    assert fair["ndkl_mean"] == pytest.approx((kl1 + kl2 / math.log2(3)) / z)
    # exposure with positions beyond k = 2 weighing 0: female (1 + 0) / 2, male 1 / log2(3)
    assert fair["exposure_ratio_mean"] == pytest.approx(0.5 / (1 / math.log2(3)))
    age = m["fairness"]["age_band"]
    assert age["known"] == 0 and age["unknown"] == 7 and age["min_impact_ratio"] is None


def test_evaluate_ignores_input_order_on_ties(examples: list[Example]) -> None:
    flat = WeightedSumScorer({}, version="flat")  # every pair scores 0
    part = examples[-300:]
    m1 = evaluate(flat, part)
    m2 = evaluate(flat, list(reversed(part)))
    assert m1 == m2
    assert m1["auc"] == 0.5


# --------------------------------------------------------------------------------------------
# The gate
# --------------------------------------------------------------------------------------------


def test_gate_fails_model_trained_on_biased_outcomes(
    biased_report: TrainingReport, report: TrainingReport
) -> None:
    fair = biased_report.candidate["fairness"]["gender"]
    assert fair["min_impact_group"] == "female"
    assert fair["min_impact_ratio"] < 0.8
    assert not biased_report.gate.passed
    assert any(
        r.startswith("gender: top-10 impact ratio of 'female'") for r in biased_report.gate.reasons
    )
    # it learned the bias through the proxy feature, not through gender
    assert biased_report.scorer.weights["employment_type"] > 0.8
    assert report.scorer.weights["employment_type"] < 0.5
    # the same lists ranked by the model trained on unbiased outcomes pass
    unbiased = report.candidate["fairness"]["gender"]["min_impact_ratio"]
    assert unbiased >= 0.8
    assert report.gate.passed and not report.gate.reasons
    json.dumps(biased_report.to_json(), allow_nan=False)


def test_report_json(report: TrainingReport) -> None:
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert data["version"] == "learned-v1"
    assert data["gate"] == {"passed": True, "reasons": [], "notes": report.gate.notes}
    assert set(data["metrics"]) == {"candidate", "active", "default"}
    assert data["train_window"][1] < data["holdout_window"][0]
    assert data["model"]["metadata"]["n_examples"] == 1875


def _metrics(
    ndcg: float | None, ratios: dict[str, float], *, n: int = 100, p: float = 0.0
) -> dict[str, Any]:
    return {
        "k": 10,
        "ndcg_at_k": ndcg,
        "fairness": {
            "gender": {
                "known": n * len(ratios),
                "totals": {g: n for g in ratios},
                "impact_ratios": ratios,
                "p_lower": {g: p for g in ratios},
            }
        },
    }


def test_compare_quality_and_fairness_rules() -> None:
    fair = {"female": 0.9, "male": 1.0}
    active = _metrics(0.70, fair)
    assert compare(_metrics(0.695, fair), active) == GateResult(True, [], [])
    worse = compare(_metrics(0.68, fair), active)
    assert (
        not worse.passed and "NDCG@10 0.6800 is below the active model's 0.7000" in worse.reasons[0]
    )
    assert compare(_metrics(0.68, fair), active, tolerance=0.05).passed
    undefined = compare(_metrics(None, fair), active)
    assert not undefined.passed and "undefined" in undefined.reasons[0]
    assert compare(_metrics(0.7, fair), _metrics(None, fair)).passed

    unfair = compare(_metrics(0.8, {"female": 0.7, "male": 1.0}), active)
    assert not unfair.passed
    assert unfair.reasons == [
        "gender: top-10 impact ratio of 'female' is 0.700, below 0.8 (p = 0 < 0.025)"
    ]
    assert compare(_metrics(0.8, {"female": 0.7, "male": 1.0}), active, min_impact_ratio=0.6).passed
    # not significant: a note, not a failure; significance=None gates on the ratio alone
    noisy = _metrics(0.8, {"female": 0.7, "male": 1.0}, p=0.2)
    res = compare(noisy, active)
    assert res.passed and "not statistically significant" in res.notes[0]
    assert not compare(noisy, active, significance=None).passed
    # too little data: not gated, noted
    small = compare(_metrics(0.8, {"female": 0.2, "male": 1.0}, n=20), active)
    assert small.passed and "fewer than 50" in small.notes[0]
    tiny = _metrics(0.8, {"female": 0.2, "male": 1.0, "x": 0.0}, n=60)
    tiny["fairness"]["gender"]["totals"]["x"] = 3
    res = compare(tiny, active)
    assert not res.passed and len(res.reasons) == 1 and "'female'" in res.reasons[0]
    assert any("not gated: x" in n for n in res.notes)
    with pytest.raises(ValueError, match="different k"):
        compare(_metrics(0.8, fair), {**active, "k": 5})
