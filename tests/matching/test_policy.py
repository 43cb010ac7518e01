"""Group labels and placement counts: what fairness reports sum over many lists."""

from __future__ import annotations

from matching.fairness.policy import UNKNOWN, group_label, placement_counts


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
