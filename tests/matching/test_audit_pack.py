"""The audit pack's figures on small hand-made inputs whose answers can be worked out by hand."""

from __future__ import annotations

import pytest
from scipy.stats import fisher_exact

from matching.audit_pack import (
    DecisionRow,
    RankedList,
    group_shares,
    oversight,
    ranking_fairness,
    selection_impact,
    significance,
)


def test_selection_impact_counts_rates_ratios_and_tests_against_the_top_group() -> None:
    rows = (
        [{"gender": "female", "hired": i < 2} for i in range(10)]
        + [{"gender": "male", "hired": i < 5} for i in range(10)]
        + [{"gender": None, "hired": True}]
    )
    out = selection_impact(rows, ["gender"], "hired")
    g = out["by_attribute"]["gender"]
    assert g["selected"] == {"female": 2, "male": 5} and g["totals"] == {"female": 10, "male": 10}
    assert g["ratios"] == {"female": pytest.approx(0.4), "male": 1.0}
    assert g["flagged"] == ["female"] and g["unknown"] == 1
    sig = g["significance"]
    assert sig["reference"] == "male" and sig["p_values"]["male"] is None
    expected = fisher_exact([[2, 8], [5, 5]], alternative="two-sided")[1]
    assert sig["p_values"]["female"] == pytest.approx(expected)
    assert out["selected"] == 8


def test_significance_of_no_data_is_empty() -> None:
    assert significance({}, {}) == {"reference": None, "p_values": {}}


def test_oversight_rates_directions_and_automation_bias() -> None:
    decisions = [
        # ann selects exactly the first two of list a: follows the ranking
        DecisionRow("a", 1, "shortlist", None, "ann"),
        DecisionRow("a", 2, "contact", None, "ann"),
        # bob selects ranks 1 and 5 of list b (one of two within the first two places),
        # rejects rank 2 and moves rank 7 up to 3 and rank 1 down to 4
        DecisionRow("b", 1, "shortlist", None, "bob"),
        DecisionRow("b", 5, "shortlist", None, "bob"),
        DecisionRow("b", 2, "reject", None, "bob"),
        DecisionRow("b", 7, "override", 3, "bob"),
        DecisionRow("b", 1, "override", 4, "bob"),
    ]
    out = oversight(["a", "b", "c"], decisions)
    assert out["lists_reviewed"] == 2 and out["share_reviewed"] == pytest.approx(2 / 3)
    assert out["decisions_per_action"] == {
        "contact": 1,
        "override": 2,
        "reject": 1,
        "shortlist": 3,
    }
    assert out["override_rate"] == pytest.approx(2 / 7)
    assert (out["overrides_up"], out["overrides_down"]) == (1, 1)
    ann, bob = out["by_person"]["ann"], out["by_person"]["bob"]
    assert ann["rank_order_agreement"] == 1.0 and ann["exact_follow_share"] == 1.0
    assert bob["rank_order_agreement"] == 0.5 and bob["exact_follow_share"] == 0.0
    assert bob["override_rate"] == pytest.approx(2 / 5) and bob["rejects"] == 1


def test_ranking_fairness_averages_list_metrics() -> None:
    even = RankedList(["a", "b", "a", "b"], {"a": 0.5, "b": 0.5})
    skewed = RankedList(["a", "a", "a", "b"], {"a": 0.5, "b": 0.5})
    out = ranking_fairness([even, skewed, RankedList(["a"], {"a": 1.0})])
    assert out["lists"] == 2  # a list of one consenting candidate says nothing
    assert out["mean_skew"]["a"] == pytest.approx((0.0 + 0.4054651) / 2, abs=1e-6)
    assert out["mean_ndkl"] > 0 and 0 < out["mean_exposure_ratio"] < 1
    assert ranking_fairness([]) == {"lists": 0}


def test_group_shares_leave_unknown_out() -> None:
    rows = [{"gender": "female"}, {"gender": "male"}, {"gender": "male"}, {"gender": None}]
    out = group_shares(rows, ["gender"])["gender"]
    assert out["counts"] == {"female": 1, "male": 2} and out["unknown"] == 1
    assert out["shares"] == {"female": pytest.approx(1 / 3), "male": pytest.approx(2 / 3)}
