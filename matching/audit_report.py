"""Aggregate fairness figures over many stored lists, for the agency's periodic audit.

Inputs are plain rows (group labels of consenting seekers, counts, scores); unknown groups are
counted and reported, never guessed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from matching.fairness import impact_ratios
from matching.fairness.policy import UNKNOWN, attribute_label


def sum_placements(
    lists: Iterable[Mapping[str, Any]],
) -> tuple[int, dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """The `placement` counts stored on candidate lists, summed: (lists, pool, top), where pool
    and top are per attribute and group: candidates in the pool, and of them placed."""
    pool: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    top: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    n = 0
    for placement in lists:
        n += 1
        for attribute, groups in placement.items():
            for group, cell in groups.items():
                pool[attribute][group] += int(cell["pool"])
                top[attribute][group] += int(cell["top"])
    return n, pool, top


def placement_impact(lists: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Top-k placement impact ratios from the `placement` counts stored on candidate lists."""
    n, pool, top = sum_placements(lists)
    out: dict[str, Any] = {"lists": n, "by_attribute": {}}
    for attribute in sorted(pool):
        known = {g: c for g, c in pool[attribute].items() if g != UNKNOWN}
        result = impact_ratios({g: top[attribute][g] for g in known}, known)
        out["by_attribute"][attribute] = {
            **result.as_dict(),
            "unknown": pool[attribute].get(UNKNOWN, 0),
        }
    return out


def selection_impact(
    rows: Sequence[Mapping[str, Any]], attributes: Sequence[str]
) -> dict[str, Any]:
    """Impact ratios of a yes/no selection (e.g. shortlisting) per attribute.

    Each row has the attribute values (None when unknown) and `selected` (bool).
    """
    out: dict[str, Any] = {"candidates": len(rows), "by_attribute": {}}
    for attribute in attributes:
        totals: dict[str, int] = defaultdict(int)
        chosen: dict[str, int] = defaultdict(int)
        unknown = 0
        for row in rows:
            value = row.get(attribute)
            if value is None:
                unknown += 1
                continue
            label = attribute_label(value)
            totals[label] += 1
            chosen[label] += bool(row["selected"])
        result = impact_ratios(dict(chosen), dict(totals))
        out["by_attribute"][attribute] = {**result.as_dict(), "unknown": unknown}
    return out


def recommendation_quality(
    rows: Sequence[Mapping[str, Any]], attributes: Sequence[str]
) -> dict[str, Any]:
    """Per group: mean score and mean offered monthly salary of the recommendations seekers got.

    Each row is one recommendation: attribute values, `score`, `salary` (monthly, or None).
    """
    out: dict[str, Any] = {"recommendations": len(rows), "by_attribute": {}}
    for attribute in attributes:
        groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"score": [], "salary": []})
        for row in rows:
            value = row.get(attribute)
            label = UNKNOWN if value is None else attribute_label(value)
            groups[label]["score"].append(float(row["score"]))
            if row.get("salary") is not None:
                groups[label]["salary"].append(float(row["salary"]))
        out["by_attribute"][attribute] = {
            label: {
                "recommendations": len(v["score"]),
                "mean_score": sum(v["score"]) / len(v["score"]) if v["score"] else None,
                "mean_monthly_salary": (
                    sum(v["salary"]) / len(v["salary"]) if v["salary"] else None
                ),
                "with_salary": len(v["salary"]),
            }
            for label, v in sorted(groups.items())
        }
    return out
