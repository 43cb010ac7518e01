"""Apply an agency's fairness policy to one scored list of candidates.

Protected attributes arrive here only as group labels of candidates whose owners consented;
everyone else is in the group ``unknown``: never guessed, never inferred, counted in the report.
The scores are computed before and without them.

Refusing consent never costs a seeker their place: the re-rankers get ``unknown`` as exempt, so
the policy's shares govern the order of the consenting candidates among themselves, and every
``unknown`` candidate competes on score for every place -- never placed below, or left out for,
a lower-scored candidate (see ``exempt`` in :mod:`matching.fairness`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from matching.fairness import (
    det_const_sort_report,
    fair_mtable,
    fair_rerank_report,
    fairness_report,
)

UNKNOWN = "unknown"
Method = Literal["none", "fa_ir", "det_const_sort"]


@dataclass(frozen=True, slots=True)
class FairnessPolicy:
    """What an agency asks of its candidate rankings.

    ``attributes`` name the protected attributes whose combined value is a candidate's group
    (e.g. ``("gender",)`` → ``"female"``; two attributes → ``"female|55-64"``).
    FA*IR (``fa_ir``) needs ``protected_groups`` (labels counted as protected) and a minimum share
    ``p``; DetConstSort needs a share per group. Shares are shares of the candidates whose group
    is known (consenting), in every prefix of the list. With ``target_source = "pool"`` they are
    those of the candidates in the qualified pool whose group is known.
    """

    method: Method = "none"
    attributes: tuple[str, ...] = ("gender",)
    protected_groups: tuple[str, ...] = ()
    target_source: Literal["explicit", "pool"] = "explicit"
    p: float | None = None
    targets: Mapping[str, float] = field(default_factory=dict)
    alpha: float = 0.1


def group_label(attributes: Mapping[str, Any] | None, names: Sequence[str]) -> str:
    """A candidate's group under the policy; unknown when any attribute is not known."""
    if not attributes:
        return UNKNOWN
    values = [attributes.get(n) for n in names]
    if any(v is None for v in values):
        return UNKNOWN
    return "|".join(attribute_label(v) for v in values)


def attribute_label(value: Any) -> str:
    """An attribute value as a group label; booleans read "true"/"false" as the API writes them."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def pool_shares(groups: Sequence[str]) -> dict[str, float]:
    known = [g for g in groups if g != UNKNOWN]
    if not known:
        return {}
    counts = Counter(known)
    return {g: c / len(known) for g, c in sorted(counts.items())}


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    order: list[int]  # indices into the scored list, best first
    report: dict[str, Any]  # JSON-ready "fairness" block


def apply_policy(
    scores: Sequence[float], groups: Sequence[str], policy: FairnessPolicy, k: int
) -> PolicyOutcome:
    """Re-rank (scores best first or not) under the policy and report metrics before and after."""
    n = len(scores)
    raw = sorted(range(n), key=lambda i: (-scores[i], i))
    k = min(k, n)
    shares = pool_shares(groups)
    report: dict[str, Any] = {
        "method": policy.method,
        "attributes": list(policy.attributes),
        "k": k,
        "pool_size": n,
        "unknown_in_pool": sum(1 for g in groups if g == UNKNOWN),
        "pool_shares": shares,
    }
    if k == 0:
        return PolicyOutcome(order=[], report=report)
    infeasible: list[int] = []
    if policy.method == "fa_ir":
        protected_set = set(policy.protected_groups)
        flags = [g in protected_set for g in groups]
        p = (
            policy.p
            if policy.target_source == "explicit"
            else sum(v for g, v in shares.items() if g in protected_set)
        )
        p = min(max(p or 0.0, 1e-6), 1 - 1e-6)
        unknown = [g == UNKNOWN for g in groups]
        result = fair_rerank_report(scores, flags, k, p, policy.alpha, exempt=unknown)
        order, infeasible = result.order, result.infeasible_prefixes
        targets: dict[str, float] = {"protected": p, "other": 1 - p}
        labels = ["protected" if f else "other" for f in flags]
        places = min(k, n - report["unknown_in_pool"])  # the table governs the consenting
        mtable = fair_mtable(places, p, policy.alpha)
        report.update({"p": p, "alpha": policy.alpha, "mtable": mtable})
    elif policy.method == "det_const_sort":
        targets = dict(policy.targets) if policy.target_source == "explicit" else shares
        result = det_const_sort_report(scores, list(groups), targets, k, exempt=(UNKNOWN,))
        order, infeasible = result.order, result.infeasible_prefixes
        labels = list(groups)
        report["targets"] = targets
    else:
        order = raw[:k]
        targets = shares
        labels = list(groups)
    report["infeasible_prefixes"] = infeasible
    if targets:
        report.update(_before_and_after(raw[:k], order[:k], groups, labels, targets))
    return PolicyOutcome(order=order, report=report)


MEASURED_OVER = (
    "The consenting candidates in the list's first k places: 'before' in score order, 'after' "
    "as shown. Candidates without consent ('unknown') are left out of both: the policy does not "
    "govern them (they compete on score), and their number is in unknown_in_top_k."
)


def _before_and_after(
    before: Sequence[int],
    after: Sequence[int],
    groups: Sequence[str],
    labels: Sequence[str],
    targets: Mapping[str, float],
) -> dict[str, Any]:
    """The metrics of the first k places before and after re-ranking, over like sets: the same
    number of places, the same population (the consenting candidates in them), the same
    targets. Measuring 'before' over the whole pool and 'after' over the list would show a
    change where there is none."""
    out: dict[str, Any] = {
        "measured_over": MEASURED_OVER,
        "unknown_in_top_k": {
            "before": sum(1 for i in before if groups[i] == UNKNOWN),
            "after": sum(1 for i in after if groups[i] == UNKNOWN),
        },
    }
    for name, places in (("before", before), ("after", after)):
        known = [labels[i] for i in places if groups[i] != UNKNOWN]
        out[name] = fairness_report(known, targets, len(known)) if known else None
    return out


def placement_counts(
    attributes: Sequence[Mapping[str, Any] | None], top: Sequence[int], names: Sequence[str]
) -> dict[str, dict[str, dict[str, int]]]:
    """Per attribute and value: how many candidates were in the pool and how many in the top.

    Summed over many lists, these give the selection-rate impact ratios of top-k placement.
    """
    chosen = set(top)
    out: dict[str, dict[str, dict[str, int]]] = {}
    for name in names:
        per: dict[str, dict[str, int]] = {}
        for i, attrs in enumerate(attributes):
            value = attrs.get(name) if attrs else None  # group_label(attrs, (name,)), inlined
            label = UNKNOWN if value is None else attribute_label(value)
            cell = per.setdefault(label, {"pool": 0, "top": 0})
            cell["pool"] += 1
            cell["top"] += i in chosen
        out[name] = per
    return out
