"""What the console's pages show, built from the capabilities' answers: plain dicts and lists
for the templates, in the order a person reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.match_lists.schemas import MatchItem, MatchList
from service.review.schemas import RejectReason

REASON_CODES = [r.value for r in RejectReason]
TOP_FACTORS = 3


@dataclass
class ItemView:
    item: MatchItem
    final_rank: int
    name: str
    top_factors: list[tuple[str, float]]
    inferred_occupation: str | None
    current: Any  # DecisionOut | None: the newest decision
    error: dict[str, str] = field(default_factory=dict)  # field → message key (form errors)
    values: dict[str, str] = field(default_factory=dict)  # what the person typed, on error


def item_name(item: MatchItem) -> str:
    return item.title or item.external_id if item.posting_id else item.external_id


def top_factors(item: MatchItem) -> list[tuple[str, float]]:
    """The factors that added most to the score, biggest first (none that added nothing)."""
    ranked = sorted(item.factors.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(name, value) for name, value in ranked[:TOP_FACTORS] if value > 0]


def inferred_occupation(item: MatchItem) -> str | None:
    for note in item.explanation.note_codes:
        if note.code.startswith("occupation_inferred") and note.params.get("title"):
            return str(note.params["title"])
    return None


def item_views(match_list: MatchList) -> list[ItemView]:
    """The items in their final order (after overrides), each with what the page shows."""
    views = [
        ItemView(
            item=it,
            final_rank=it.final_rank or it.rank,
            name=item_name(it),
            top_factors=top_factors(it),
            inferred_occupation=inferred_occupation(it),
            current=it.decisions[0] if it.decisions else None,
        )
        for it in match_list.items
    ]
    return sorted(views, key=lambda v: v.final_rank)


@dataclass
class FairnessView:
    method: str
    attributes: list[str]
    k: int
    pool_size: int
    rows: list[tuple[str, float | None, float | None, float | None]]  # group, target, before, after
    moved: int
    shown: bool  # group figures present (roles that may see them)


def fairness_view(match_list: MatchList) -> FairnessView | None:
    block = match_list.fairness
    if not block:
        return None
    before = block.before.share if block.before else {}
    after = block.after.share if block.after else {}
    targets = block.targets or (block.before.target if block.before else None) or {}
    groups = list(dict.fromkeys([*targets, *before, *after]))
    rows = [(g, targets.get(g), before.get(g), after.get(g)) for g in groups]
    # Places whose item is not where score order would put it: what the re-ranking moved.
    by_score = sorted(match_list.items, key=lambda it: (-it.score, it.rank))
    moved = sum(1 for pos, it in enumerate(by_score, start=1) if it.rank != pos)
    return FairnessView(
        method=block.method,
        attributes=list(block.attributes),
        k=block.k,
        pool_size=block.pool_size,
        rows=rows,
        moved=moved,
        shown=block.group_figures is None,
    )


def suggestion_words(t: Any, kind: str, suggestion: dict[str, Any]) -> str:
    """One what-if suggestion in a sentence: the change, then what it would do."""
    change = suggestion["change"]
    value = change["value"]
    if change["type"] == "widen_radius":
        value = t.number(float(value), 0)
    elif change["type"] == "accept_employment_type":
        value = str(value).replace("_", " ").lower()
    condition = t(f"whatif.{change['type']}", value=value)
    if kind == "seekers_for_posting":
        result = t(
            "whatif.result_posting", score=t.number(suggestion["score"]), rank=suggestion["rank"]
        )
    else:
        result = t("whatif.result_seeker", n=suggestion["new_postings_in_top"])
    tail = f" {t('whatif.reaches')}" if suggestion.get("reaches_target") else ""
    sep = "，" if t.lang == "zh" else ", "
    end = "。" if t.lang == "zh" else "."
    return f"{condition}{sep}{result}{tail}{end}"
