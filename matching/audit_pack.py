"""Figures of the audit pack, from plain rows: impact ratios with a significance test, ranking
fairness over many lists, group shares, and human-oversight figures (reviews, overrides,
automation bias).

Impact ratios follow NYC Local Law 144 (DCWP rules, 6 RCNY §5-300) via
:func:`matching.fairness.impact_ratios`; each category's selection is compared with the most
selected category's by Fisher's exact test (two-sided), which holds for the small counts an
agency's period often has. Skew@k and NDKL (Geyik, Ambler, Kenthapadi, KDD 2019) and exposure
(Singh, Joachims, KDD 2018) come from :func:`matching.fairness.fairness_report`, per list, then
averaged over the lists of the period.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from scipy.stats import fisher_exact

from matching.audit_report import sum_placements
from matching.fairness import fairness_report, impact_ratios
from matching.fairness.policy import UNKNOWN, attribute_label

#: Decisions that select a candidate (shortlisting or contacting).
SELECTING = frozenset({"shortlist", "contact"})


def significance(selected: Mapping[str, int], totals: Mapping[str, int]) -> dict[str, Any]:
    """Two-sided Fisher exact p-value of each category's selection rate against the category
    with the highest rate (the reference of its impact ratio); the reference itself gets None."""
    rates = {c: selected.get(c, 0) / t for c, t in totals.items() if t > 0}
    if not rates:
        return {"reference": None, "p_values": {}}
    ref = max(rates, key=lambda c: (rates[c], totals[c]))
    s_ref, t_ref = selected.get(ref, 0), totals[ref]
    p_values: dict[str, float | None] = {}
    for c, t in totals.items():
        if c == ref or t == 0:
            p_values[c] = None
            continue
        s = selected.get(c, 0)
        table = [[s, t - s], [s_ref, t_ref - s_ref]]
        p_values[c] = float(fisher_exact(table, alternative="two-sided")[1])
    return {"reference": ref, "p_values": p_values, "test": "Fisher exact, two-sided"}


def impact_with_significance(
    selected: Mapping[str, int], totals: Mapping[str, int]
) -> dict[str, Any]:
    """Impact ratios (the 2 % exclusion rule applied) with a p-value per kept category."""
    result = impact_ratios(dict(selected), dict(totals))
    kept = {c: totals[c] for c in result.rates}
    return {**result.as_dict(), "significance": significance(selected, kept)}


def selection_impact(
    rows: Sequence[Mapping[str, Any]], attributes: Sequence[str], flag: str
) -> dict[str, Any]:
    """Impact ratios of one yes/no selection (`flag`, a boolean of each row) per attribute.
    A row's attribute is None when the seeker gave no consent: counted as unknown, left out."""
    out: dict[str, Any] = {"candidates": len(rows), "selected": 0, "by_attribute": {}}
    out["selected"] = sum(bool(r[flag]) for r in rows)
    for attribute in attributes:
        totals: Counter[str] = Counter()
        chosen: Counter[str] = Counter()
        unknown = 0
        for row in rows:
            value = row.get(attribute)
            if value is None:
                unknown += 1
                continue
            totals[attribute_label(value)] += 1
            chosen[attribute_label(value)] += bool(row[flag])
        out["by_attribute"][attribute] = {
            **impact_with_significance(chosen, totals),
            "unknown": unknown,
        }
    return out


def placement_impact(
    placements: Iterable[Mapping[str, Mapping[str, Mapping[str, int]]]],
) -> dict[str, Any]:
    """Top-k placement impact ratios from the `placement` counts stored on candidate lists
    (per attribute and group: candidates in the pool, and of them placed in the list)."""
    n, pool, top = sum_placements(placements)
    out: dict[str, Any] = {"lists": n, "by_attribute": {}}
    for attribute in sorted(pool):
        known = {g: c for g, c in pool[attribute].items() if g != UNKNOWN}
        out["by_attribute"][attribute] = {
            **impact_with_significance({g: top[attribute][g] for g in known}, known),
            "unknown": pool[attribute].get(UNKNOWN, 0),
        }
    return out


@dataclass(frozen=True, slots=True)
class RankedList:
    """One candidate list for ranking-fairness figures: the consenting candidates' groups in
    rank order, and the group shares of the pool it was drawn from (the targets)."""

    groups: Sequence[str]
    pool_shares: Mapping[str, float]


def ranking_fairness(lists: Sequence[RankedList]) -> dict[str, Any]:
    """Skew@k per group, Min/MaxSkew@k, NDKL and the exposure ratio of each list (k = the
    list's consenting candidates), averaged over lists with at least two such candidates."""
    used = [rl for rl in lists if len(rl.groups) >= 2 and rl.pool_shares]
    if not used:
        return {"lists": 0}
    reports = [
        fairness_report(list(rl.groups), dict(rl.pool_shares), len(rl.groups)) for rl in used
    ]
    skews: dict[str, list[float]] = defaultdict(list)
    exposure: dict[str, list[float]] = defaultdict(list)
    for rep in reports:
        for g, v in _per_group(rep, "skew").items():
            skews[g].append(v)
        for g, v in _per_group(rep, "exposure").items():
            exposure[g].append(v)
    return {
        "lists": len(used),
        "mean_skew": {g: fmean(v) for g, v in sorted(skews.items())},
        "mean_min_skew": fmean(_number(r, "min_skew") for r in reports),
        "mean_max_skew": fmean(_number(r, "max_skew") for r in reports),
        "mean_ndkl": fmean(_number(r, "ndkl") for r in reports),
        "mean_exposure": {g: fmean(v) for g, v in sorted(exposure.items())},
        "mean_exposure_ratio": fmean(_number(r, "exposure_ratio") for r in reports),
    }


def _number(report: Mapping[str, object], key: str) -> float:
    value = report[key]
    assert isinstance(value, int | float)
    return float(value)


def _per_group(report: Mapping[str, object], key: str) -> dict[str, float]:
    value = report[key]
    assert isinstance(value, dict)
    return {str(g): float(v) for g, v in value.items()}


def group_shares(rows: Sequence[Mapping[str, Any]], attributes: Sequence[str]) -> dict[str, Any]:
    """Per attribute: count and share of each group among the rows with that attribute known,
    and how many rows it is unknown for."""
    out: dict[str, Any] = {}
    for attribute in attributes:
        counts = Counter(
            attribute_label(r[attribute]) for r in rows if r.get(attribute) is not None
        )
        known = sum(counts.values())
        out[attribute] = {
            "counts": dict(sorted(counts.items())),
            "shares": {g: n / known for g, n in sorted(counts.items())},
            "unknown": len(rows) - known,
        }
    return out


@dataclass(frozen=True, slots=True)
class DecisionRow:
    list_id: str
    rank: int
    action: str
    new_rank: int | None
    person: str


def oversight(list_ids: Sequence[str], decisions: Sequence[DecisionRow]) -> dict[str, Any]:
    """Human oversight over the period's lists: share reviewed (at least one decision),
    decisions per action, overrides (rate and direction), and automation bias per person.

    Automation bias: in a list where a person selected m candidates (shortlist or contact),
    the share of them within the ranking's first m places; 1.0 means the selections simply
    followed the ranked order. `exact_follow_share` is the share of such lists where the
    selection was exactly the first m."""
    reviewed = {d.list_id for d in decisions}
    per_action = Counter(d.action for d in decisions)
    overrides = [d for d in decisions if d.action == "override" and d.new_rank is not None]
    up = sum(1 for d in overrides if d.new_rank is not None and d.new_rank < d.rank)
    down = sum(1 for d in overrides if d.new_rank is not None and d.new_rank > d.rank)
    selections: dict[tuple[str, str], set[int]] = defaultdict(set)
    for d in decisions:
        if d.action in SELECTING:
            selections[(d.person, d.list_id)].add(d.rank)
    people: dict[str, dict[str, Any]] = {}
    for person in sorted({d.person for d in decisions}):
        mine = [d for d in decisions if d.person == person]
        agreement, exact = [], []
        for (p, _), ranks in selections.items():
            if p != person:
                continue
            m = len(ranks)
            agreement.append(sum(1 for r in ranks if r <= m) / m)
            exact.append(ranks == set(range(1, m + 1)))
        people[person] = {
            "decisions": len(mine),
            "lists": len({d.list_id for d in mine}),
            "overrides": sum(1 for d in mine if d.action == "override"),
            "override_rate": sum(1 for d in mine if d.action == "override") / len(mine),
            "rejects": sum(1 for d in mine if d.action == "reject"),
            "lists_with_selections": len(agreement),
            "rank_order_agreement": fmean(agreement) if agreement else None,
            "exact_follow_share": fmean(exact) if exact else None,
        }
    n_decisions = len(decisions)
    return {
        "lists": len(list_ids),
        "lists_reviewed": len(reviewed & set(list_ids)),
        "share_reviewed": len(reviewed & set(list_ids)) / len(list_ids) if list_ids else None,
        "decisions": n_decisions,
        "decisions_per_action": dict(sorted(per_action.items())),
        "override_rate": len(overrides) / n_decisions if n_decisions else None,
        "overrides_up": up,
        "overrides_down": down,
        "by_person": people,
    }
