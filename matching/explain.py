"""Explanations a caseworker can read out: skills matched and missing, distance, pay, contract.

Notes are produced as (code, parameters) and rendered per language, so a new language is one
table. English and Simplified Chinese are provided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from matching.features import PairFeatures

_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "skills_required": "Has {matched} of the {total} required skills.",
        "skills_required_unknown": "The posting lists no required skills.",
        "skills_missing": "Missing required skills: {names}.",
        "skills_missing_more": "Missing required skills: {names} and {more} more.",
        "distance_within": "{km:.0f} km away, within the {radius:.0f} km search radius.",
        "distance_outside": "{km:.0f} km away, beyond the {radius:.0f} km search radius.",
        "distance_remote": "The work can be done remotely.",
        "distance_unknown": "Distance unknown: a location is missing.",
        "salary_fits": "The pay reaches the desired minimum.",
        "salary_short": "The pay is below the desired minimum.",
        "salary_unknown": "Pay fit unknown: the pay or the wish is not stated (or not comparable).",
        "contract_fits": "The contract type is one the person wants.",
        "contract_differs": "The contract type is not one the person asked for.",
        "radius_widened": "Few jobs nearby: the search radius was widened by {km:.0f} km.",
    },
    "zh": {
        "skills_required": "具备 {total} 项必备技能中的 {matched} 项。",
        "skills_required_unknown": "该职位未列出必备技能。",
        "skills_missing": "缺少的必备技能：{names}。",
        "skills_missing_more": "缺少的必备技能：{names}，另有 {more} 项。",
        "distance_within": "距离 {km:.0f} 公里，在 {radius:.0f} 公里的搜索范围内。",
        "distance_outside": "距离 {km:.0f} 公里，超出 {radius:.0f} 公里的搜索范围。",
        "distance_remote": "该工作可以远程完成。",
        "distance_unknown": "距离未知：缺少地点信息。",
        "salary_fits": "薪资达到期望的最低标准。",
        "salary_short": "薪资低于期望的最低标准。",
        "salary_unknown": "薪资匹配情况未知：职位薪资或求职者期望未注明（或无法比较）。",
        "contract_fits": "合同类型符合求职者的意愿。",
        "contract_differs": "合同类型不是求职者所要求的。",
        "radius_widened": "附近职位较少：搜索范围扩大了 {km:.0f} 公里。",
    },
}
SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(_TEMPLATES)
# What an explanation lists, at most, so that a posting with hundreds of long skills does not
# put kilobytes into every list item it appears in: skills per list, skills named in a note,
# and characters per skill name.
LISTED_SKILLS = 10
NOTE_SKILLS = 5
SKILL_CHARS = 80


def _short(name: str) -> str:
    return name if len(name) <= SKILL_CHARS else name[: SKILL_CHARS - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class Note:
    code: str
    params: dict[str, Any]

    def render(self, language: str = "en") -> str:
        table = _TEMPLATES.get(language, _TEMPLATES["en"])
        return table[self.code].format(**self.params)


def pick_language(accept_language: str | None) -> str:
    """The first supported language in an Accept-Language header, English otherwise."""
    if not accept_language:
        return "en"
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        primary = tag.split("-")[0]
        if primary in _TEMPLATES:
            return primary
    return "en"


def explanation_notes(pair: PairFeatures, *, radius_km: float | None, remote: bool) -> list[Note]:
    notes: list[Note] = []
    s = pair.skills
    total = len(s.matched_required) + len(s.missing_required)
    if total:
        notes.append(Note("skills_required", {"matched": len(s.matched_required), "total": total}))
        if s.missing_required:
            named = [_short(n) for n in s.missing_required[:NOTE_SKILLS]]
            more = len(s.missing_required) - len(named)
            if more:
                notes.append(Note("skills_missing_more", {"names": ", ".join(named), "more": more}))
            else:
                notes.append(Note("skills_missing", {"names": ", ".join(named)}))
    else:
        notes.append(Note("skills_required_unknown", {}))
    if remote:
        notes.append(Note("distance_remote", {}))
    elif pair.distance_km is None or radius_km is None:
        notes.append(Note("distance_unknown", {}))
    elif pair.distance_km <= radius_km:
        notes.append(Note("distance_within", {"km": pair.distance_km, "radius": radius_km}))
    else:
        notes.append(Note("distance_outside", {"km": pair.distance_km, "radius": radius_km}))
    salary = pair.values.get("salary")
    if salary is None:
        notes.append(Note("salary_unknown", {}))
    else:
        notes.append(Note("salary_fits" if salary >= 1.0 else "salary_short", {}))
    contract = pair.values.get("employment_type")
    if contract is not None:
        notes.append(Note("contract_fits" if contract >= 1.0 else "contract_differs", {}))
    return notes


def explanation(
    pair: PairFeatures,
    *,
    radius_km: float | None,
    remote: bool,
    language: str = "en",
) -> dict[str, Any]:
    """The explanation block of one match item (JSON-ready)."""
    s = pair.skills
    notes = explanation_notes(pair, radius_km=radius_km, remote=remote)
    lists = {
        "matched_skills": s.matched_required + s.matched_preferred,
        "missing_skills": s.missing_required + s.missing_preferred,
        "matched_required_skills": s.matched_required,
        "missing_required_skills": s.missing_required,
        "matched_preferred_skills": s.matched_preferred,
        "missing_preferred_skills": s.missing_preferred,
    }
    omitted = {k: len(v) - LISTED_SKILLS for k, v in lists.items() if len(v) > LISTED_SKILLS}
    return {
        # Required skills first, each in the posting's order: the most important few are
        # listed (each name at most SKILL_CHARS long), and how many more there are.
        **{k: [_short(n) for n in v[:LISTED_SKILLS]] for k, v in lists.items()},
        "omitted_skills": omitted,
        "distance_km": None if pair.distance_km is None else round(pair.distance_km, 2),
        "radius_km": radius_km,
        "notes": [n.render(language) for n in notes],
        "note_codes": [{"code": n.code, "params": n.params} for n in notes],
    }
