"""Tests for seed.feedback: simulated outcomes follow the hidden preference, are deterministic,
and can be biased against a group; synthetic lists carry a gender-correlated proxy feature."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from matching.features import FEATURE_NAMES
from matching.learning import label_from_events
from matching.score import DEFAULT_WEIGHTS
from seed.feedback import (
    FUNNEL,
    HIDDEN_INTERCEPT,
    HIDDEN_WEIGHTS,
    OUTCOMES,
    START,
    hidden_utility,
    simulate_labels,
    synthetic_items,
)

N = 4000


def grid(**fixed: float | None) -> list[dict[str, Any]]:
    """N items with the same features (the rest unknown)."""
    return [{"features": dict(fixed)} for _ in range(N)]


def rate(outcomes: list[str], wanted: set[str]) -> float:
    return sum(1 for o in outcomes if o in wanted) / len(outcomes)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_outcomes_and_funnel_labels() -> None:
    assert set(FUNNEL) == set(OUTCOMES)
    labels = {o: label_from_events(FUNNEL[o]) for o in OUTCOMES}
    assert labels == {
        "hired": 3.0,
        "interviewed": 2.0,
        "not_hired": 1.0,
        "shortlist": 1.0,
        "reject": 0.0,
    }
    items = synthetic_items(n_lists=5, list_size=10)
    assert set(simulate_labels(items)) <= set(OUTCOMES)


def test_deterministic() -> None:
    items = synthetic_items(n_lists=10, list_size=20, seed=3)
    assert items == synthetic_items(n_lists=10, list_size=20, seed=3)
    assert items != synthetic_items(n_lists=10, list_size=20, seed=4)
    a = simulate_labels(items, seed=7)
    assert a == simulate_labels(items, seed=7)
    assert a != simulate_labels(items, seed=8)
    assert len(a) == len(items)
    assert simulate_labels([]) == []


def test_hidden_preference_shows() -> None:
    hired = {"hired"}
    positive = {"hired", "interviewed", "not_hired", "shortlist"}
    by_distance = [
        rate(simulate_labels(grid(required_skills=0.6, distance=d, semantic=0.5)), hired)
        for d in (0.0, 0.5, 1.0)
    ]
    by_skills = [
        rate(simulate_labels(grid(required_skills=s, distance=0.6, semantic=0.5)), hired)
        for s in (0.0, 0.5, 1.0)
    ]
    assert by_distance[0] < by_distance[1] < by_distance[2]
    assert by_skills[0] < by_skills[1] < by_skills[2]
    assert by_distance[2] - by_distance[0] > 0.3
    assert by_skills[2] - by_skills[0] > 0.4
    # semantic similarity, the default scorer's heaviest weight, matters much less here
    by_semantic = [
        rate(simulate_labels(grid(required_skills=0.6, distance=0.6, semantic=v)), hired)
        for v in (0.0, 1.0)
    ]
    assert by_semantic[1] - by_semantic[0] < (by_distance[2] - by_distance[0]) / 2
    assert DEFAULT_WEIGHTS["semantic"] > DEFAULT_WEIGHTS["required_skills"]
    assert DEFAULT_WEIGHTS["semantic"] > DEFAULT_WEIGHTS["distance"]
    # features outside the hidden preference do nothing
    base = simulate_labels(grid(required_skills=0.6, distance=0.6, semantic=0.5), seed=1)
    other = simulate_labels(
        grid(required_skills=0.6, distance=0.6, semantic=0.5, salary=1.0, occupation=0.0), seed=1
    )
    assert base == other
    # the positive rate (beyond a caseworker's rejection) rises too
    low = simulate_labels(grid(required_skills=0.1, distance=0.1))
    high = simulate_labels(grid(required_skills=0.9, distance=0.9))
    assert rate(high, positive) > rate(low, positive) + 0.3


def test_ordered_logit_hire_probability() -> None:
    f = {"required_skills": 0.75, "distance": 0.5, "semantic": 0.5}
    u = HIDDEN_INTERCEPT + sum(HIDDEN_WEIGHTS[k] * v for k, v in f.items())
    assert hidden_utility(f) == pytest.approx(u)
    out = simulate_labels([{"features": f}] * 20_000, seed=2)
    assert rate(out, {"hired"}) == pytest.approx(sigmoid(u), abs=0.015)
    # P(z > -1) = sigmoid(u + 1): hired or interviewed
    assert rate(out, {"hired", "interviewed"}) == pytest.approx(sigmoid(u + 1), abs=0.015)
    assert rate(out, {"reject"}) == pytest.approx(1 - sigmoid(u + 3), abs=0.015)


def test_unknown_features_count_zero() -> None:
    assert hidden_utility({"required_skills": None, "distance": None}) == HIDDEN_INTERCEPT
    assert simulate_labels(grid(required_skills=None, distance=None), seed=4) == simulate_labels(
        grid(required_skills=0.0, distance=0.0, semantic=0.0), seed=4
    )


def test_bias_lowers_disadvantaged_group_positive_rate() -> None:
    items = synthetic_items(n_lists=60, list_size=25, seed=9)
    fair = simulate_labels(items, seed=1)
    biased = simulate_labels(items, seed=1, bias={"gender": {"female": -2.5}})
    women = [i for i, it in enumerate(items) if it["groups"].get("gender") == "female"]
    others = [i for i, it in enumerate(items) if it["groups"].get("gender") != "female"]
    positive = {"hired", "interviewed", "not_hired", "shortlist"}

    def pos_rate(out: list[str], idx: list[int]) -> float:
        return rate([out[i] for i in idx], positive)

    assert pos_rate(biased, women) < pos_rate(fair, women) - 0.25
    assert rate([biased[i] for i in women], {"hired"}) < rate([fair[i] for i in women], {"hired"})
    # everyone else's outcomes are exactly the same (same noise draws)
    assert [biased[i] for i in others] == [fair[i] for i in others]
    # without bias, women and men fare alike (the proxy feature is not in the preference)
    men = [i for i, it in enumerate(items) if it["groups"].get("gender") == "male"]
    assert abs(pos_rate(fair, women) - pos_rate(fair, men)) < 0.05
    # a group without a shift in the mapping and items without groups are untouched
    assert simulate_labels(items, seed=1, bias={"gender": {"other": -9.0}}) == fair
    assert simulate_labels([{"features": {}}], bias={"gender": {"female": -1.0}}) == (
        simulate_labels([{"features": {}}])
    )


def test_synthetic_items_shape_and_proxy() -> None:
    items = synthetic_items(n_lists=40, list_size=20, seed=2)
    assert len(items) == 800
    json.dumps(items, default=str)
    lists = Counter(it["list_id"] for it in items)
    assert len(lists) == 40 and set(lists.values()) == {20}
    for i, it in enumerate(items):
        assert set(it) == {"list_id", "seeker_id", "posting_id", "at", "features", "groups"}
        assert it["at"] == START + timedelta(days=i // 20)
        assert tuple(it["features"]) == FEATURE_NAMES
        for v in it["features"].values():
            assert v is None or 0.0 <= v <= 1.0
    per_list: dict[str, list[str]] = {}
    for it in items:
        per_list.setdefault(it["list_id"], []).append(it["seeker_id"])
    assert all(len(set(s)) == len(s) for s in per_list.values())
    # a seeker's groups never change across lists
    groups: dict[str, dict[str, str]] = {}
    for it in items:
        assert groups.setdefault(it["seeker_id"], it["groups"]) == it["groups"]
    unknown = sum(1 for g in groups.values() if not g) / len(groups)
    assert 0.05 < unknown < 0.3
    # the proxy: women's pairs fit the contract type far less often
    fit = {
        g: np.mean(
            [it["features"]["employment_type"] for it in items if it["groups"].get("gender") == g]
        )
        for g in ("female", "male")
    }
    assert fit["female"] == pytest.approx(0.3, abs=0.06)
    assert fit["male"] == pytest.approx(0.9, abs=0.05)
    flat = synthetic_items(n_lists=40, list_size=20, seed=2, proxy_fit={})
    assert np.mean([it["features"]["employment_type"] for it in flat]) > 0.85
    with pytest.raises(ValueError):
        synthetic_items(n_lists=0)
