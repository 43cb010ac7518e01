"""Explanations a caseworker can read out: skills matched and missing, distance, pay, contract.

Notes are produced as (code, parameters) and rendered per language, so a new language is one
table. English and Simplified Chinese are provided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matching.features import PairFeatures, SkillMatch
from matching.profiles import PostingProfile, SeekerProfile

_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "skills_required": "Has {matched} of the {total} required skills.",
        "skills_required_unknown": "The posting lists no required skills.",
        "skills_missing": "Missing required skills: {names}.",
        "skills_missing_more": "Missing required skills: {names} and {more} more.",
        "skills_mentioned_required": "Has {matched} of the {total} skills the job ad's text "
        "mentions.",
        "skills_mentioned_missing": "Mentioned in the job ad, not in the profile: {names}.",
        "skills_mentioned_missing_more": "Mentioned in the job ad, not in the profile: {names} "
        "and {more} more.",
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
        "skills_mentioned_required": "具备职位描述中提到的 {total} 项技能中的 {matched} 项。",
        "skills_mentioned_missing": "职位描述中提到、但个人资料中没有的技能：{names}。",
        "skills_mentioned_missing_more": "职位描述中提到、但个人资料中没有的技能：{names}，"
        "另有 {more} 项。",
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
for _language, _table in (
    (
        "en",
        {
            "factor_strongest": "Counts most: {what} (+{contribution:.2f}).",
            "factor_also": "Also counts: {what} (+{contribution:.2f}).",
            "factor_weakest": "Counts least: {weak} ({contribution:+.2f}).",
            "factor_none": "No factor speaks for this match.",
        },
    ),
    (
        "zh",
        {
            "factor_strongest": "最重要的因素：{what}（+{contribution:.2f}）。",
            "factor_also": "其次：{what}（+{contribution:.2f}）。",
            "factor_weakest": "最弱的因素：{weak}（{contribution:+.2f}）。",
            "factor_none": "没有因素支持这一匹配。",
        },
    ),
):
    _TEMPLATES[_language].update(_table)
_TEMPLATES["en"].update(
    {
        "occupation_inferred_seeker": 'Inferred from the profile: {title} (from "{span}").',
        "occupation_inferred_posting": 'Inferred from the job ad: {title} (from "{span}").',
        "skills_inferred_seeker": 'Skills read from the profile: {skills} (from "{span}" …).',
        "skills_inferred_posting": "The job ad lists no skills; read from its text: {skills} "
        '(from "{span}" …).',
    }
)
_TEMPLATES["zh"].update(
    {
        "occupation_inferred_seeker": "根据简历推断的职业：{title}（来自“{span}”）。",
        "occupation_inferred_posting": "根据招聘启事推断的职业：{title}（来自“{span}”）。",
        "skills_inferred_seeker": "从简历文字中读出的技能：{skills}（来自“{span}”等）。",
        "skills_inferred_posting": "招聘启事未列出技能，从其文字中读出："
        "{skills}（来自“{span}”等）。",
    }
)
_TEMPLATES["en"]["capacity_lowered"] = (
    "Shown lower because many job seekers are already directed to it ({applications} "
    "applications for {openings} opening(s)); its score was lowered by {penalty:.2f}."
)
_TEMPLATES["zh"]["capacity_lowered"] = (
    "由于已有许多求职者被推荐到该职位（{openings} 个空缺已有 {applications} 份申请），"
    "排名有所下调；分数降低了 {penalty:.2f}。"
)
SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(_TEMPLATES)
# What an explanation lists, at most, so that a posting with hundreds of long skills does not
# put kilobytes into every list item it appears in: skills per list, skills named in a note,
# and characters per skill name.
LISTED_SKILLS = 10
NOTE_SKILLS = 5
# At most this much of the words a skill or an occupation was read from is quoted in a note.
QUOTED_CHARACTERS = 80
SKILL_CHARS = 80


def _short(name: str) -> str:
    return name if len(name) <= SKILL_CHARS else name[: SKILL_CHARS - 1].rstrip() + "…"


# Each factor of a score in plain words: what it means when it counts (`what`), and when it
# is the weakest (`weak`). A factor not named here (a learned model's own) is shown by name.
_FACTOR_WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "semantic": (
            "your profile text is close to this job's description",
            "your profile text is far from this job's description",
        ),
        "lexical": (
            "your profile and this job ad share uncommon words",
            "your profile and this job ad share few uncommon words",
        ),
        "occupation": (
            "the occupation sought is this job's occupation, or close to it",
            "the occupation sought differs from this job's",
        ),
        "required_skills": (
            "has required skills of this job",
            "lacks required skills of this job (or none are listed)",
        ),
        "preferred_skills": (
            "has preferred skills of this job",
            "lacks the preferred skills (or none are listed)",
        ),
        "distance": ("the workplace is within reach", "distance (far, or unknown)"),
        "salary": ("the pay reaches the desired minimum", "pay (below the wish, or unknown)"),
        "employment_type": ("the contract type fits", "contract type (not one asked for)"),
        "experience": (
            "enough years of experience",
            "experience (fewer years than required, or unknown)",
        ),
        "education": (
            "the education level meets the minimum",
            "education (below the minimum, or unknown)",
        ),
        "languages": (
            "speaks the required languages",
            "languages (required ones missing, or unknown)",
        ),
        "recency": ("the job was posted recently", "the job was posted a while ago"),
    },
    "zh": {
        "semantic": ("您的简历文本与该职位描述相近", "您的简历文本与该职位描述相差较远"),
        "lexical": (
            "您的简历与该职位描述有共同的少见词语",
            "您的简历与该职位描述少有共同的少见词语",
        ),
        "occupation": ("求职意向职业与该职位的职业相同或相近", "求职意向职业与该职位的职业不同"),
        "required_skills": ("具备该职位的必备技能", "缺少该职位的必备技能（或未列出）"),
        "preferred_skills": ("具备该职位的优先技能", "缺少优先技能（或未列出）"),
        "distance": ("工作地点在通勤范围内", "距离（较远或未知）"),
        "salary": ("薪资达到期望的最低标准", "薪资（低于期望或未知）"),
        "employment_type": ("合同类型符合", "合同类型（不是所要求的）"),
        "experience": ("工作经验年限足够", "经验（少于要求或未知）"),
        "education": ("教育程度达到最低要求", "教育程度（低于要求或未知）"),
        "languages": ("掌握所需语言", "语言（缺少所需语言或未知）"),
        "recency": ("该职位是最近发布的", "该职位发布已久"),
    },
}
TOP_FACTORS = 3  # how many contributing factors the notes name, strongest first
NOT_FACTORS = frozenset({"baseline"})  # a learned model's intercept: no property of the pair


def _factor_words(language: str, factor: str) -> tuple[str, str]:
    words = _FACTOR_WORDS.get(language, _FACTOR_WORDS["en"])
    return words.get(factor, (factor.replace("_", " "), factor.replace("_", " ")))


def factor_notes(factors: Mapping[str, float]) -> list[Note]:
    """The factors that carry the score, largest contribution first (at most TOP_FACTORS, each
    contributing something), then the weakest one: the factor that contributes least."""
    ranked = sorted(
        ((name, c) for name, c in factors.items() if name not in NOT_FACTORS),
        key=lambda item: -item[1],
    )
    notes: list[Note] = []
    top = [(name, c) for name, c in ranked[:TOP_FACTORS] if c > 0]
    if not top:
        notes.append(Note("factor_none", {}))
    for i, (name, c) in enumerate(top):
        code = "factor_strongest" if i == 0 else "factor_also"
        notes.append(Note(code, {"factor": name, "contribution": round(c, 4)}))
    if len(ranked) > len(top):
        name, c = ranked[-1]
        notes.append(Note("factor_weakest", {"factor": name, "contribution": round(c, 4)}))
    return notes


@dataclass(frozen=True, slots=True)
class Note:
    code: str
    params: dict[str, Any]

    def render(self, language: str = "en") -> str:
        table = _TEMPLATES.get(language, _TEMPLATES["en"])
        params = self.params
        if "factor" in params:
            what, weak = _factor_words(language, params["factor"])
            params = {**params, "what": what, "weak": weak}
        return table[self.code].format(**params)


def pick_language(accept_language: str | None) -> str:
    """The supported language the client prefers most by its Accept-Language q-values
    (RFC 9110, 12.5.4; equal weights keep the header's order), English otherwise. `q=0`
    means "not this one"; `*` stands for any language not named."""
    if not accept_language:
        return "en"
    parsed: list[tuple[str, float]] = []
    for part in accept_language.split(","):
        tag, *params = (x.strip() for x in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        parsed.append((tag.lower().split("-")[0], weight))
    named = {tag for tag, _ in parsed}
    ranked: list[tuple[float, int, str]] = []
    for position, (tag, weight) in enumerate(parsed):
        if tag == "*":
            tag = next((lang for lang in _TEMPLATES if lang not in named), "")
        if tag in _TEMPLATES and weight > 0:
            ranked.append((-weight, position, tag))
    return min(ranked)[2] if ranked else "en"


def explanation_notes(pair: PairFeatures, *, radius_km: float | None, remote: bool) -> list[Note]:
    notes: list[Note] = []
    s = pair.skills
    total = len(s.matched_required) + len(s.missing_required)
    if total:
        # Skills read from an ad's text are what it mentions, not what the employer requires.
        kind = "skills_mentioned" if s.from_text else "skills"
        matched = len(s.matched_required)
        notes.append(Note(f"{kind}_required", {"matched": matched, "total": total}))
        if s.missing_required:
            named = [_short(n) for n in s.missing_required[:NOTE_SKILLS]]
            more = len(s.missing_required) - len(named)
            if more:
                notes.append(
                    Note(f"{kind}_missing_more", {"names": ", ".join(named), "more": more})
                )
            else:
                notes.append(Note(f"{kind}_missing", {"names": ", ".join(named)}))
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


def inferred_occupation_notes(
    seeker: SeekerProfile | None, posting: PostingProfile | None
) -> tuple[Note, ...]:
    """Where the occupation factor rests on what was read from free text (a side that states
    no coded occupation), which occupation it read and from which words: a caseworker can see
    what the service understood, and correct it by stating the occupation."""
    notes: list[Note] = []
    seeker_coded = seeker is not None and any(
        o.esco_uri or o.isco08 for o in seeker.desired_occupations
    )
    if seeker is not None and not seeker_coded and seeker.inferred_occupations:
        top = seeker.inferred_occupations[0]
        span = top.span[:QUOTED_CHARACTERS]
        notes.append(Note("occupation_inferred_seeker", {"title": top.title, "span": span}))
    occupation = posting.occupation if posting is not None else None
    posting_coded = occupation is not None and bool(occupation.esco_uri or occupation.isco08)
    if posting is not None and not posting_coded and posting.inferred_occupations:
        top = posting.inferred_occupations[0]
        span = top.span[:QUOTED_CHARACTERS]
        notes.append(Note("occupation_inferred_posting", {"title": top.title, "span": span}))
    return tuple(notes)


def inferred_skill_notes(
    seeker: SeekerProfile, posting: PostingProfile, skills: SkillMatch
) -> tuple[Note, ...]:
    """Where the skill factors rest on skills read from free text, which skills and from which
    words: the posting's, when it lists none and its required skills were read from its ad;
    the seeker's, when a skill the posting wants was read from the profile, not stated."""
    notes: list[Note] = []
    if not (posting.skills_required or posting.skills_preferred):
        read = [s for s in posting.inferred_skills if not s.implied]
        if read:
            names = ", ".join(_short(s.name) for s in read[:NOTE_SKILLS])
            span = (read[0].quote or read[0].name)[:QUOTED_CHARACTERS]
            notes.append(Note("skills_inferred_posting", {"skills": names, "span": span}))
    stated = {s.name.casefold() for s in seeker.skills}
    read_by_name = {
        s.name.casefold(): s
        for s in seeker.inferred_skills
        if not s.implied and s.name.casefold() not in stated
    }
    used = [
        read_by_name[n.casefold()]
        for n in skills.matched_required + skills.matched_preferred
        if n.casefold() in read_by_name
    ]
    if used:
        names = ", ".join(_short(s.name) for s in used[:NOTE_SKILLS])
        span = (used[0].quote or used[0].name)[:QUOTED_CHARACTERS]
        notes.append(Note("skills_inferred_seeker", {"skills": names, "span": span}))
    return tuple(notes)


def capacity_note(penalty: float, applications: int, openings: int) -> Note:
    """Why capacity-aware matching showed a posting lower: its congestion price (`penalty`,
    score units) and how many applications it has per its openings."""
    return Note(
        "capacity_lowered",
        {"penalty": round(penalty, 4), "applications": applications, "openings": openings},
    )


def explanation(
    pair: PairFeatures,
    *,
    radius_km: float | None,
    remote: bool,
    language: str = "en",
    factors: Mapping[str, float] | None = None,
    inferred: Sequence[Note] = (),
) -> dict[str, Any]:
    """The explanation block of one match item (JSON-ready). With the score's `factors`, the
    notes begin with the factors that carry it, strongest first, and the weakest one."""
    s = pair.skills
    notes = explanation_notes(pair, radius_km=radius_km, remote=remote) + list(inferred)
    if factors is not None:
        notes = factor_notes(factors) + notes
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
