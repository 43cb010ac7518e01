"""Group labels and placement counts: what fairness reports sum over many lists."""

from __future__ import annotations

from matching.fairness.policy import (
    UNKNOWN,
    FairnessPolicy,
    apply_policy,
    group_label,
    placement_counts,
)


def test_group_labels_join_values_and_know_nothing_partial() -> None:
    person = {"gender": "female", "disability": True, "age_band": None}
    assert group_label(person, ("gender",)) == "female"
    assert group_label(person, ("gender", "disability")) == "female|true"
    assert group_label(person, ("gender", "age_band")) == UNKNOWN  # one attribute unknown
    assert group_label(None, ("gender",)) == UNKNOWN and group_label({}, ("gender",)) == UNKNOWN


def test_placement_counts_per_attribute_pool_and_top() -> None:
    pool = [
        {"gender": "female", "disability": False},
        {"gender": "male", "disability": True},
        None,  # no consent: unknown on every attribute
        {"gender": "female"},
        {"gender": "x", "disability": None},
    ]
    counts = placement_counts(pool, top=[3, 0], names=("gender", "disability"))
    assert counts == {
        "gender": {
            "female": {"pool": 2, "top": 2},
            "male": {"pool": 1, "top": 0},
            UNKNOWN: {"pool": 1, "top": 0},
            "x": {"pool": 1, "top": 0},
        },
        "disability": {
            "false": {"pool": 1, "top": 1},
            "true": {"pool": 1, "top": 0},
            UNKNOWN: {"pool": 3, "top": 1},
        },
    }
    for name in ("gender", "disability"):  # the same labels as the policy's own grouping
        assert set(counts[name]) == {group_label(a, (name,)) for a in pool}


def test_before_and_after_are_measured_over_like_sets() -> None:
    """Issue 16, item 10: 'before' over the pool (89) and 'after' over the list (10) showed a
    change in exposure where nothing changed. Both are the first k places now, consenting
    candidates only (the policy does not govern the others), and say so."""
    n, k = 89, 10
    scores = [1 - i / 100 for i in range(n)]
    groups = ["unknown", "male", "male", "female", "unknown"] + ["male", "female"] * 42
    unchanged = apply_policy(scores, groups, FairnessPolicy(method="none"), k)
    assert unchanged.report["before"] == unchanged.report["after"]
    assert unchanged.report["after"]["n"] == 8  # ten places, two without consent
    assert unchanged.report["unknown_in_top_k"] == {"before": 2, "after": 2}
    assert "consenting" in unchanged.report["measured_over"]

    policy = FairnessPolicy(method="det_const_sort", targets={"female": 0.7, "male": 0.3})
    moved = apply_policy(scores, groups, policy, k)
    before, after = moved.report["before"], moved.report["after"]
    known_after = [groups[i] for i in moved.order[:k] if groups[i] != "unknown"]
    assert after["n"] == len(known_after) and before["n"] == 8
    assert after["share"]["female"] == known_after.count("female") / len(known_after)
    assert after["share"]["female"] > before["share"]["female"]
    assert set(before["exposure"]) <= {"male", "female"}  # no group beyond the first k places
