"""Consent never costs a seeker their place (issue 16, item 1).

A candidate whose protected data is not consented is in the group ``unknown``. The fairness
constraints govern the order of the consenting candidates among themselves; an unknown competes
on score for every place, so no lower-scored candidate is ever placed above (or kept instead of)
an unknown -- in particular none of a group that has already met its target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from matching import fairness as F
from matching.fairness.policy import UNKNOWN, FairnessPolicy, apply_policy

PROPS = settings(max_examples=200, deadline=None)

ISSUE_SCORES = [0.9, 0.85, 0.8, 0.7, 0.3, 0.25, 0.2, 0.12]
ISSUE_GROUPS = [UNKNOWN, UNKNOWN, "female", UNKNOWN, "male", "male", "female", "male"]


def test_issue_example_det_const_sort_keeps_the_best_unknowns() -> None:
    policy = FairnessPolicy(method="det_const_sort", attributes=("gender",), target_source="pool")
    order = apply_policy(ISSUE_SCORES, ISSUE_GROUPS, policy, k=6).order
    assert len(order) == 6
    assert order[:4] == [0, 1, 2, 3]  # merit order: the three best are unknowns, none dropped


def test_issue_example_explicit_targets_and_fa_ir() -> None:
    explicit = FairnessPolicy(method="det_const_sort", targets={"female": 0.5, "male": 0.5})
    assert apply_policy(ISSUE_SCORES, ISSUE_GROUPS, explicit, k=6).order[:2] == [0, 1]
    fa_ir = FairnessPolicy(method="fa_ir", protected_groups=("female",), p=0.5)
    order = apply_policy(ISSUE_SCORES, ISSUE_GROUPS, fa_ir, k=6).order
    assert order[:4] == [0, 1, 2, 3]


def _key(scores: Sequence[float], i: int) -> tuple[float, int]:
    return (-scores[i], i)


def assert_unknowns_never_displaced(
    order: Sequence[int],
    scores: Sequence[float],
    groups: Sequence[str],
    targets: dict[str, float],
    k: int,
) -> None:
    """The list holds min(k, n) distinct candidates, and no unknown sits below (or is left out
    for) a lower-scored candidate ``x`` of a group that had already met its target at ``x``'s
    place -- ``x``'s group has no target, or the places above ``x`` already hold
    ``floor(p_g * position)`` of its members. Checked in its stronger form too: no unknown is
    below a lower-scored candidate of any group (ties: lower index first)."""
    n = len(scores)
    assert len(order) == min(k, n) and len(set(order)) == len(order)
    placed = {i: pos for pos, i in enumerate(order)}
    for u in (i for i in range(n) if groups[i] == UNKNOWN):
        u_pos = placed.get(u, len(order))
        for pos, x in enumerate(order[:u_pos]):
            if _key(scores, x) < _key(scores, u):
                continue  # x outscores u: merit
            g = groups[x]
            above = [groups[j] for j in order[:pos]]
            met = g not in targets or above.count(g) >= math.floor(targets[g] * (pos + 1) + 1e-9)
            assert not met, f"unknown {u} displaced by {x} ({g}, target met) at {pos + 1}"
            raise AssertionError(f"unknown {u} placed below lower-scored {x} ({g}) at {pos + 1}")


@st.composite
def pools(draw: st.DrawFn) -> tuple[list[float], list[str], dict[str, float], int]:
    n = draw(st.integers(0, 40))
    names = [UNKNOWN, "female", "male", "x"]
    groups = draw(st.lists(st.sampled_from(names), min_size=n, max_size=n))
    if draw(st.booleans()):  # many ties
        scores = [float(v) for v in draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))]
    else:
        scores = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    chosen = draw(st.lists(st.sampled_from(names[1:]), min_size=1, max_size=3, unique=True))
    raw = draw(st.lists(st.integers(0, 10), min_size=len(chosen), max_size=len(chosen)))
    total = max(sum(raw), 1)
    targets = {g: math.floor(100 * r / total) / 100 for g, r in zip(chosen, raw, strict=True)}
    return scores, groups, targets, draw(st.integers(0, 45))


@PROPS
@given(data=pools())
def test_det_const_sort_never_displaces_an_unknown(
    data: tuple[list[float], list[str], dict[str, float], int],
) -> None:
    scores, groups, targets, k = data
    order = F.det_const_sort(scores, groups, targets, k, exempt={UNKNOWN})
    assert_unknowns_never_displaced(order, scores, groups, targets, k)
    # the consenting candidates keep exactly the order the constraint gives them on their own
    known = [i for i in range(len(scores)) if groups[i] != UNKNOWN]
    alone = F.det_const_sort(
        [scores[i] for i in known], [groups[i] for i in known], targets, min(k, len(known))
    )
    placed = [i for i in order if groups[i] != UNKNOWN]
    assert placed == [known[j] for j in alone][: len(placed)]
    for source in ("explicit", "pool"):
        policy = FairnessPolicy(
            method="det_const_sort",
            targets=targets,
            target_source=source,  # type: ignore[arg-type]
        )
        order = apply_policy(scores, groups, policy, k).order
        assert_unknowns_never_displaced(order, scores, groups, targets, k)


@PROPS
@given(data=pools(), p=st.floats(0.05, 0.95), alpha=st.floats(0.01, 0.3))
def test_fa_ir_never_displaces_an_unknown(
    data: tuple[list[float], list[str], dict[str, float], int], p: float, alpha: float
) -> None:
    scores, groups, _, k = data
    for source in ("explicit", "pool"):
        policy = FairnessPolicy(
            method="fa_ir",
            protected_groups=("female",),
            p=p,
            alpha=alpha,
            target_source=source,  # type: ignore[arg-type]
        )
        order = apply_policy(scores, groups, policy, k).order
        assert_unknowns_never_displaced(order, scores, groups, {"female": p}, k)
    protected = [g == "female" for g in groups]
    unknown = [g == UNKNOWN for g in groups]
    result = F.fair_rerank_report(scores, protected, k, p, alpha, exempt=unknown)
    assert_unknowns_never_displaced(result.order, scores, groups, {"female": p}, k)
    known = [i for i in range(len(scores)) if not unknown[i]]
    alone = F.fair_rerank_report(
        [scores[i] for i in known], [protected[i] for i in known], min(k, len(known)), p, alpha
    )
    placed = [i for i in result.order if not unknown[i]]
    assert placed == [known[j] for j in alone.order][: len(placed)]
    if alone.feasible:
        assert result.feasible
