"""Deterministic demo data: job postings and job seekers built from real ESCO codes.

Pure functions, no database or web imports. The same ``n`` and ``seed`` always give the same
records; dates are relative to the fixed reference date :data:`REFERENCE_DATE`, never today.
Occupations, ISCO-08 groups and skills come from ``seed/data/esco_subset.json`` (see
``seed/build_esco_subset.py``); people, employers, texts and numbers are invented.

This service uses the ESCO classification of the European Commission.

Command line (NDJSON, one JSON object per line, for bulk import)::

    python -m seed.generate --postings 500 --seekers 2000 --out /tmp/seed
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")

REFERENCE_DATE = date(2026, 11, 15)
"""'Today' for the demo data: postings are dated in the 60 days before it."""

SUBSET_RESOURCE = "data/esco_subset.json"

EMPLOYMENT_TYPES: tuple[str, ...] = (
    "FULL_TIME",
    "PART_TIME",
    "CONTRACTOR",
    "TEMPORARY",
    "INTERN",
    "PER_DIEM",
    "VOLUNTEER",
    "OTHER",
)
SALARY_PERIODS: tuple[str, ...] = ("HOUR", "MONTH", "YEAR")
GENDERS: tuple[str, ...] = ("female", "male", "non_binary")
AGE_BANDS: tuple[str, ...] = ("16-24", "25-34", "35-44", "45-54", "55-64", "65+")

POSTING_KEYS: frozenset[str] = frozenset(
    {
        "external_id",
        "title",
        "description",
        "hiring_organization",
        "occupation",
        "skills_required",
        "skills_preferred",
        "experience_years_min",
        "education_level_min",
        "languages_required",
        "employment_type",
        "base_salary",
        "job_location",
        "remote_allowed",
        "date_posted",
        "valid_through",
        "openings",
    }
)
SEEKER_KEYS: frozenset[str] = frozenset(
    {
        "external_id",
        "headline",
        "summary",
        "skills",
        "desired_occupations",
        "experience_years",
        "education_level",
        "languages",
        "location",
        "max_distance_km",
        "desired_salary",
        "employment_types",
        "available_from",
        "personalised_ranking",
        "protected",
    }
)


@dataclass(frozen=True, slots=True)
class City:
    name: str
    lat: float
    lon: float
    region: str  # province
    weight: float  # roughly the population, in thousands


CITIES: tuple[City, ...] = (
    City("Amsterdam", 52.3676, 4.9041, "Noord-Holland", 930),
    City("Rotterdam", 51.9244, 4.4777, "Zuid-Holland", 670),
    City("The Hague", 52.0705, 4.3007, "Zuid-Holland", 560),
    City("Utrecht", 52.0907, 5.1214, "Utrecht", 370),
    City("Eindhoven", 51.4416, 5.4697, "Noord-Brabant", 240),
    City("Groningen", 53.2194, 6.5665, "Groningen", 240),
    City("Tilburg", 51.5555, 5.0913, "Noord-Brabant", 225),
    City("Almere", 52.3508, 5.2647, "Flevoland", 220),
    City("Breda", 51.5719, 4.7683, "Noord-Brabant", 185),
    City("Nijmegen", 51.8126, 5.8372, "Gelderland", 180),
    City("Zwolle", 52.5168, 6.0830, "Overijssel", 130),
    City("Maastricht", 50.8514, 5.6910, "Limburg", 120),
)
LOCATION_JITTER_DEG = 0.03

SECTORS: tuple[str, ...] = (
    "care",
    "logistics",
    "construction",
    "retail",
    "hospitality",
    "manufacturing",
    "it",
    "administration",
)

# Share of postings / seekers per sector (relative weights).
_SECTOR_WEIGHTS_POSTINGS = (16, 15, 12, 12, 12, 11, 12, 10)
_SECTOR_WEIGHTS_SEEKERS = (15, 15, 10, 14, 13, 11, 11, 11)

# Share of women among seekers per sector, so that fairness constraints have something to do
# (roughly the Dutch labour-market picture: care mostly women, construction mostly men).
_FEMALE_SHARE = {
    "care": 0.84,
    "logistics": 0.18,
    "construction": 0.06,
    "retail": 0.60,
    "hospitality": 0.52,
    "manufacturing": 0.24,
    "it": 0.20,
    "administration": 0.72,
}
_NON_BINARY_SHARE = 0.015

_AGE_WEIGHTS_DEFAULT = (12, 24, 22, 20, 17, 5)
_AGE_WEIGHTS = {
    "retail": (34, 28, 14, 11, 10, 3),
    "hospitality": (38, 30, 13, 10, 7, 2),
    "it": (8, 38, 28, 16, 9, 1),
    "care": (10, 22, 20, 22, 22, 4),
}
_AGE_RANGES = {
    "16-24": (16, 24),
    "25-34": (25, 34),
    "35-44": (35, 44),
    "45-54": (45, 54),
    "55-64": (55, 64),
    "65+": (65, 70),
}
_MIGRANT_SHARE = {
    "logistics": 0.40,
    "hospitality": 0.38,
    "manufacturing": 0.34,
    "it": 0.30,
    "care": 0.24,
    "retail": 0.22,
    "construction": 0.22,
    "administration": 0.18,
}

# Gross pay ranges, Dutch levels as expected for 2026 (statutory minimum wage about EUR 14.71
# an hour). (period, min, max); HOUR for jobs usually advertised by the hour.
MIN_WAGE_HOUR = 14.71
HOURS_PER_MONTH = 156  # a 36-hour week, the most common Dutch collective-agreement week
_SALARY: dict[str, tuple[str, float, float]] = {
    # care
    "nurse assistant": ("MONTH", 2650, 3350),
    "home care aide": ("MONTH", 2500, 3100),
    "social care worker": ("MONTH", 2950, 3950),
    "healthcare assistant": ("MONTH", 2600, 3300),
    "disability support worker": ("MONTH", 2850, 3750),
    "nurse responsible for general care": ("MONTH", 3350, 4950),
    "child care worker": ("MONTH", 2500, 3250),
    # logistics
    "warehouse worker": ("MONTH", 2450, 2900),
    "forklift operator": ("MONTH", 2550, 3150),
    "warehouse order picker": ("HOUR", 14.71, 16.75),
    "cargo vehicle driver": ("MONTH", 2800, 3650),
    "car and van delivery driver": ("HOUR", 14.71, 17.00),
    "bicycle courier": ("HOUR", 14.71, 16.25),
    "freight transport dispatcher": ("MONTH", 3000, 4100),
    # construction
    "bricklayer": ("MONTH", 3000, 4100),
    "electrician": ("MONTH", 3000, 4350),
    "carpenter": ("MONTH", 2900, 4000),
    "plumber": ("MONTH", 2950, 4150),
    "roofer": ("MONTH", 2800, 3850),
    "construction painter": ("MONTH", 2700, 3550),
    "plasterer": ("MONTH", 2800, 3750),
    # retail
    "shop assistant": ("HOUR", 14.71, 16.50),
    "cashier": ("HOUR", 14.71, 15.90),
    "sales assistant": ("MONTH", 2450, 2950),
    "shelf filler": ("HOUR", 14.71, 15.50),
    "shop manager": ("MONTH", 3200, 4450),
    "supermarket manager": ("MONTH", 3850, 5600),
    "retail department manager": ("MONTH", 3000, 4050),
    # hospitality
    "cook": ("MONTH", 2600, 3400),
    "waiter/waitress": ("HOUR", 14.71, 17.25),
    "hospitality establishment receptionist": ("MONTH", 2500, 3050),
    "kitchen porter": ("HOUR", 14.71, 15.60),
    "bartender": ("HOUR", 14.71, 17.50),
    "chef": ("MONTH", 3000, 4300),
    "room attendant": ("HOUR", 14.71, 15.80),
    # manufacturing
    "computer numerical control machine operator": ("MONTH", 2900, 3950),
    "welder": ("MONTH", 2900, 3950),
    "metal products assembler": ("MONTH", 2500, 3050),
    "product quality inspector": ("MONTH", 2900, 3850),
    "packaging and filling machine operator": ("MONTH", 2500, 3000),
    "food production operator": ("MONTH", 2450, 2950),
    "injection moulding operator": ("MONTH", 2600, 3250),
    # IT
    "software developer": ("MONTH", 4000, 6600),
    "ICT system administrator": ("MONTH", 3600, 5250),
    "data analyst": ("MONTH", 3800, 5850),
    "ICT help desk agent": ("MONTH", 2800, 3650),
    "web developer": ("MONTH", 3400, 5250),
    "ICT network technician": ("MONTH", 3200, 4450),
    "database administrator": ("MONTH", 4000, 5850),
    # administration
    "administrative assistant": ("MONTH", 2700, 3550),
    "accounting assistant": ("MONTH", 2800, 3650),
    "receptionist": ("MONTH", 2500, 3050),
    "human resources assistant": ("MONTH", 2800, 3650),
    "office clerk": ("MONTH", 2600, 3250),
    "payroll clerk": ("MONTH", 3000, 3950),
    "secretary": ("MONTH", 2800, 3750),
}
_DEFAULT_SALARY = ("MONTH", 2600.0, 3400.0)

# Jobs where working from home is plausible.
_REMOTE_OK = frozenset(
    {
        "software developer",
        "ICT system administrator",
        "data analyst",
        "ICT help desk agent",
        "web developer",
        "database administrator",
        "administrative assistant",
        "accounting assistant",
        "human resources assistant",
        "payroll clerk",
        "secretary",
    }
)

# Minimum ISCED level asked for, by ISCO-08 major group (first digit): plausible choices.
_EDUCATION_BY_ISCO_MAJOR: dict[str, tuple[int, ...]] = {
    "1": (4, 5, 6),
    "2": (5, 6, 6, 7),
    "3": (4, 4, 5),
    "4": (3, 4, 4),
    "5": (2, 3, 3),
    "6": (2, 3),
    "7": (3, 3, 4),
    "8": (2, 3, 3),
    "9": (1, 2, 2),
}

_LANGS_REQUIRED: dict[str, tuple[tuple[tuple[str, ...], float], ...]] = {
    "it": ((("en",), 35), (("nl", "en"), 35), (("nl",), 20), ((), 10)),
    "hospitality": ((("nl",), 40), (("nl", "en"), 30), (("en",), 20), ((), 10)),
    "logistics": ((("nl",), 50), (("nl", "en"), 15), (("en",), 8), ((), 27)),
    "manufacturing": ((("nl",), 55), (("nl", "en"), 15), (("en",), 5), ((), 25)),
}
_LANGS_REQUIRED_DEFAULT: tuple[tuple[tuple[str, ...], float], ...] = (
    (("nl",), 78),
    (("nl", "en"), 17),
    ((), 5),
)

_SEEKER_LANGS_LOCAL: tuple[tuple[tuple[str, ...], float], ...] = (
    (("nl",), 45),
    (("nl", "en"), 40),
    (("nl", "en", "de"), 10),
    (("nl", "fr"), 3),
    (("nl", "fy"), 2),
)
_SEEKER_LANGS_MIGRANT: tuple[tuple[tuple[str, ...], float], ...] = (
    (("nl", "en"), 18),
    (("ar", "nl"), 12),
    (("nl", "tr"), 12),
    (("en", "pl"), 12),
    (("pl",), 4),
    (("ro", "en"), 6),
    (("uk", "en"), 8),
    (("en",), 8),
    (("so", "nl"), 4),
    (("es", "en", "nl"), 5),
    (("pt", "en"), 4),
    (("bg",), 3),
    (("ti", "ar"), 4),
)

# (first employment type, weight); a second type is sometimes added.
_EMPLOYMENT: dict[str, tuple[tuple[str, float], ...]] = {
    "care": (
        ("PART_TIME", 50), ("FULL_TIME", 30), ("TEMPORARY", 10), ("PER_DIEM", 7),
        ("VOLUNTEER", 3),
    ),
    "logistics": (("FULL_TIME", 45), ("TEMPORARY", 35), ("PART_TIME", 15), ("PER_DIEM", 5)),
    "construction": (("FULL_TIME", 65), ("CONTRACTOR", 20), ("TEMPORARY", 10), ("INTERN", 5)),
    "retail": (("PART_TIME", 55), ("FULL_TIME", 30), ("TEMPORARY", 10), ("PER_DIEM", 5)),
    "hospitality": (
        ("PART_TIME", 40), ("FULL_TIME", 30), ("PER_DIEM", 15), ("TEMPORARY", 12),
        ("OTHER", 3),
    ),
    "manufacturing": (("FULL_TIME", 60), ("TEMPORARY", 30), ("PART_TIME", 7), ("INTERN", 3)),
    "it": (("FULL_TIME", 70), ("CONTRACTOR", 20), ("PART_TIME", 5), ("INTERN", 5)),
    "administration": (("FULL_TIME", 45), ("PART_TIME", 40), ("TEMPORARY", 10), ("INTERN", 5)),
}  # fmt: skip

_SURNAMES = (
    "de Vries", "Jansen", "van Dijk", "Bakker", "Visser", "Smit", "Meijer", "de Boer",
    "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker",
    "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "Kok", "Jacobs",
    "Vermeulen", "van den Heuvel", "Hoekstra", "Koster", "Prins", "Willems", "Postma",
    "Kuipers", "van Wijk", "Verhoeven", "Schouten", "Groen",
)  # fmt: skip
_PLACE_NAMES = (
    "Lindehof", "Zonnehoek", "Eikenburg", "Waterkant", "Polderzicht", "Molenwijk",
    "Lindeplein", "De Vaart", "Dijkzicht", "Kastanjehof", "Beukenrode", "De Klaproos",
    "Noorderlicht", "Zuiderpoort", "De Brug", "Havenkwartier", "Tulpenhof", "De Wielewaal",
    "Groenewoud", "Vlietzicht", "Duinrand", "Het Anker", "De Meerpaal", "Sterrenhof",
)  # fmt: skip
_EMPLOYER_PATTERNS: dict[str, tuple[str, ...]] = {
    "care": (
        "Zorggroep {place}", "Thuiszorg {place}", "Woonzorgcentrum {place}",
        "Stichting {place} Zorg", "{place} Zorg & Welzijn",
    ),
    "logistics": (
        "{surname} Logistiek B.V.", "Transportbedrijf {surname}", "{place} Distributie",
        "{surname} Transport & Opslag",
    ),
    "construction": (
        "Bouwbedrijf {surname}", "Aannemersbedrijf {surname} B.V.", "{place} Bouw",
        "{surname} Bouw & Renovatie",
    ),
    "retail": (
        "{place} Supermarkten", "Warenhuis {place}", "{surname} Mode", "{surname} Bouwmarkt",
        "Drogisterij {place}", "{surname} Wonen",
    ),
    "hospitality": (
        "Hotel {place}", "Restaurant {place}", "Brasserie {surname}", "Grand Café {place}",
        "{place} Hospitality Group", "Eetcafé {surname}",
    ),
    "manufacturing": (
        "{surname} Metaalbewerking B.V.", "{surname} Precision Parts", "{surname} Machinebouw",
        "{place} Industries",
    ),
    "it": (
        "{place} Software", "{surname} IT Solutions", "{place} Digital", "Datalab {place}",
        "{place} Cloud Services", "{surname} Systeembeheer",
    ),
    "administration": (
        "{surname} & Partners Accountants", "Administratiekantoor {surname}",
        "{place} Zakelijke Dienstverlening", "{surname} Advocaten", "Woningcorporatie {place}",
        "{surname} Salarisadministratie",
    ),
}  # fmt: skip
# Occupations whose employers look different from the rest of their sector.
_EMPLOYER_PATTERNS_BY_OCCUPATION: dict[str, tuple[str, ...]] = {
    "child care worker": ("Kinderopvang {place}", "Kinderdagverblijf {place}"),
    "nurse responsible for general care": ("Ziekenhuis {place}", "Zorggroep {place}"),
    "bicycle courier": ("{place} Koeriers", "Fietskoeriers {place}"),
    "car and van delivery driver": ("{place} Koeriers", "{surname} Pakketdienst"),
    "electrician": ("{surname} Elektrotechniek", "{surname} Installatietechniek"),
    "plumber": ("{surname} Installatietechniek", "Loodgietersbedrijf {surname}"),
    "roofer": ("{surname} Dak- en Gevelwerken", "Dakdekkersbedrijf {surname}"),
    "construction painter": ("Schildersbedrijf {surname}", "{surname} Afbouw & Onderhoud"),
    "plasterer": ("Stukadoorsbedrijf {surname}", "{surname} Afbouw & Onderhoud"),
    "room attendant": ("Hotel {place}", "{place} Hotels & Suites"),
    "hospitality establishment receptionist": ("Hotel {place}", "{place} Hotels & Suites"),
    "food production operator": ("{place} Food Products", "{surname} Zuivel"),
    "packaging and filling machine operator": ("{place} Verpakkingen", "{place} Food Products"),
    "injection moulding operator": ("{surname} Kunststoffen", "{place} Plastics"),
}  # fmt: skip
_EMPLOYERS_PER_SECTOR = 30
_EMPLOYERS_PER_OCCUPATION = 10

_WORKPLACE = {
    "care": ("care team", "home care team", "residential care location"),
    "logistics": ("distribution centre", "warehouse team", "transport team"),
    "construction": ("project team", "building crew", "renovation team"),
    "retail": ("store", "shop floor team", "branch"),
    "hospitality": ("kitchen brigade", "restaurant team", "hotel team"),
    "manufacturing": ("production site", "production line", "factory team"),
    "it": ("development team", "IT department", "platform team"),
    "administration": ("office", "back-office team", "finance and HR team"),
}
_WORKPLACE_BY_OCCUPATION = {
    "child care worker": ("day care centre", "after-school care team"),
    "nurse responsible for general care": ("nursing ward", "care team"),
    "electrician": ("installation team", "service team"),
    "plumber": ("installation team", "service team"),
    "room attendant": ("housekeeping team",),
    "hospitality establishment receptionist": ("front office team",),
    "bartender": ("bar team",),
    "waiter/waitress": ("restaurant team", "service team"),
    "cook": ("kitchen brigade", "kitchen team"),
    "chef": ("kitchen brigade", "kitchen team"),
    "kitchen porter": ("kitchen team",),
    "ICT help desk agent": ("service desk", "IT department"),
    "receptionist": ("front desk", "office"),
}
_OFFERS = {
    "care": (
        "We offer pay under the collective agreement for care (CAO VVT), travel allowance "
        "and flexible rosters.",
        "You can count on a warm team, training budget and irregular-hours allowance.",
    ),
    "logistics": (
        "We offer shift allowances, a travel allowance and a forklift certificate if you "
        "do not have one yet.",
        "Expect a busy but friendly team, safety shoes and a permanent contract after a "
        "trial period.",
    ),
    "construction": (
        "We offer a company van, good tools and pay under the construction collective agreement.",
        "You get training for VCA safety certification and varied projects in the region.",
    ),
    "retail": (
        "We offer staff discount, flexible hours and room to grow into a team-lead role.",
        "You can expect a lively store, weekend allowance and in-house training.",
    ),
    "hospitality": (
        "We offer tips, staff meals and a schedule that is published two weeks ahead.",
        "Expect a young team, a lively atmosphere and pay under the hospitality "
        "collective agreement.",
    ),
    "manufacturing": (
        "We offer shift allowances, a modern workplace and paid training.",
        "You get a permanent contract after a trial period, a pension scheme and a travel "
        "allowance.",
    ),
    "it": (
        "We offer a laptop, a training budget and hybrid working.",
        "Expect an informal team, conference budget and a good pension scheme.",
    ),
    "administration": (
        "We offer a permanent contract, flexible hours and a pleasant office close to the station.",
        "You get a training budget, hybrid working where possible and a 13th month.",
    ),
}
_SEEKER_WISHES = (
    "day shifts",
    "a permanent position",
    "part-time work",
    "a new challenge",
    "work close to home",
    "evening shifts",
    "a job with growth opportunities",
    "a stable team",
)
_LANGUAGE_NAMES = {
    "nl": "Dutch",
    "en": "English",
    "de": "German",
    "fr": "French",
    "fy": "Frisian",
    "ar": "Arabic",
    "tr": "Turkish",
    "pl": "Polish",
    "ro": "Romanian",
    "uk": "Ukrainian",
    "so": "Somali",
    "es": "Spanish",
    "pt": "Portuguese",
    "bg": "Bulgarian",
    "ti": "Tigrinya",
}


@dataclass(frozen=True, slots=True)
class _Table(Generic[T]):
    """A weighted choice, prepared once: ``pick`` costs one random number and a bisect."""

    values: tuple[T, ...]
    cum_weights: tuple[float, ...]

    @classmethod
    def of(cls, options: Sequence[tuple[T, float]]) -> _Table[T]:
        total = 0.0
        cum: list[float] = []
        for _, w in options:
            total += w
            cum.append(total)
        return cls(tuple(v for v, _ in options), tuple(cum))

    def pick(self, rng: random.Random) -> T:
        x = rng.random() * self.cum_weights[-1]
        return self.values[bisect.bisect_right(self.cum_weights, x)]


_EMPLOYMENT_T = {sector: _Table.of(opts) for sector, opts in _EMPLOYMENT.items()}
_LANGS_REQUIRED_T = {sector: _Table.of(opts) for sector, opts in _LANGS_REQUIRED.items()}
_LANGS_REQUIRED_DEFAULT_T = _Table.of(_LANGS_REQUIRED_DEFAULT)
_SEEKER_LANGS_LOCAL_T = _Table.of(_SEEKER_LANGS_LOCAL)
_SEEKER_LANGS_MIGRANT_T = _Table.of(_SEEKER_LANGS_MIGRANT)
_OPENINGS_T = _Table.of(((1, 55), (2, 20), (3, 12), (4, 7), (5, 6)))
_SECTORS_POSTINGS_T = _Table.of(tuple(zip(SECTORS, _SECTOR_WEIGHTS_POSTINGS, strict=True)))
_SECTORS_SEEKERS_T = _Table.of(tuple(zip(SECTORS, _SECTOR_WEIGHTS_SEEKERS, strict=True)))
_AGE_T = {
    sector: _Table.of(
        tuple(zip(AGE_BANDS, _AGE_WEIGHTS.get(sector, _AGE_WEIGHTS_DEFAULT), strict=True))
    )
    for sector in SECTORS
}
_CITY_T = _Table.of(tuple((c, c.weight) for c in CITIES))


# ---------------------------------------------------------------- the ESCO subset


def load_esco_subset() -> dict[str, Any]:
    """The committed ESCO subset (``seed/data/esco_subset.json``), freshly parsed."""
    try:
        text = resources.files("seed").joinpath(SUBSET_RESOURCE).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):  # pragma: no cover - unusual installs
        text = (Path(__file__).resolve().parent / SUBSET_RESOURCE).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True, slots=True)
class _Skill:
    uri: str
    label: str
    alt_labels: tuple[str, ...]
    is_knowledge: bool
    phrase: str  # the label as it reads inside a sentence


@dataclass(frozen=True, slots=True)
class _Occupation:
    uri: str
    label: str
    alt_labels: tuple[str, ...]
    isco08: str
    sector: str
    essential: tuple[_Skill, ...]
    optional: tuple[_Skill, ...]
    essential_duties: tuple[str, ...]  # skill/competence labels, ready for prose
    optional_duties: tuple[str, ...]
    knowledge: tuple[str, ...]  # knowledge labels (essential and optional)


@dataclass(frozen=True, slots=True)
class _Catalogue:
    by_sector: dict[str, tuple[_Occupation, ...]]
    employers: dict[str, tuple[str, ...]]


@lru_cache(maxsize=1)
def _catalogue() -> _Catalogue:
    data = load_esco_subset()
    skills = {
        uri: _Skill(
            uri=uri,
            label=s["label"],
            alt_labels=tuple(s.get("alt_labels") or ()),
            is_knowledge=s.get("type") == "knowledge",
            phrase=_lc_first(s["label"]),
        )
        for uri, s in data["skills"].items()
    }
    by_sector: dict[str, list[_Occupation]] = {s: [] for s in SECTORS}
    for o in data["occupations"]:
        essential = tuple(skills[u] for u in o["essential_skills"])
        optional = tuple(skills[u] for u in o["optional_skills"])
        occ = _Occupation(
            uri=o["uri"],
            label=o["label"],
            alt_labels=tuple(o.get("alt_labels") or ()),
            isco08=o["isco08"],
            sector=o["sector"],
            essential=essential,
            optional=optional,
            essential_duties=_duty_phrases(essential),
            optional_duties=_duty_phrases(optional),
            knowledge=tuple(s.phrase for s in (*essential, *optional) if s.is_knowledge),
        )
        by_sector.setdefault(occ.sector, []).append(occ)

    # Fixed pools of fictional employers (per sector, and for a few occupations), so that
    # employers recur across postings. Own RNG: independent of the caller's seed.
    rng = random.Random(20261115)
    employers: dict[str, tuple[str, ...]] = {}
    pools = [(sector, p, _EMPLOYERS_PER_SECTOR) for sector, p in _EMPLOYER_PATTERNS.items()]
    pools += [
        (label, p, _EMPLOYERS_PER_OCCUPATION)
        for label, p in _EMPLOYER_PATTERNS_BY_OCCUPATION.items()
    ]
    for key, patterns, size in pools:
        names: list[str] = []
        seen: set[str] = set()
        while len(names) < size:
            name = rng.choice(patterns).format(
                surname=rng.choice(_SURNAMES), place=rng.choice(_PLACE_NAMES)
            )
            name = name[0].upper() + name[1:]
            if name not in seen:
                seen.add(name)
                names.append(name)
        employers[key] = tuple(names)

    return _Catalogue(by_sector={k: tuple(v) for k, v in by_sector.items()}, employers=employers)


# ---------------------------------------------------------------- small helpers


def _article(word: str) -> str:
    w = word.strip()
    if not w:
        return "a"
    first = w.split()[0]
    if first.isupper() and len(first) > 1:  # acronyms: "an HGV driver", "an ICT ...", "a DBA"
        return "an" if first[0] in "AEFHILMNORSX" else "a"
    if first.lower().startswith(("uni", "use", "eu", "one")):
        return "a"
    return "an" if first[0].lower() in "aeiou" else "a"


def _lc_first(text: str) -> str:
    """Lower-case the first letter unless it starts an acronym ("ICT", "GMP")."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def _uc_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _location(rng: random.Random, city: City) -> dict[str, Any]:
    return {
        "lat": round(city.lat + rng.uniform(-LOCATION_JITTER_DEG, LOCATION_JITTER_DEG), 5),
        "lon": round(city.lon + rng.uniform(-LOCATION_JITTER_DEG, LOCATION_JITTER_DEG), 5),
        "city": city.name,
        "region": city.region,
    }


def _skill_ref(
    rng: random.Random, skill: _Skill, p_synonym: float, p_no_uri: float
) -> dict[str, Any]:
    name = skill.label
    if skill.alt_labels and rng.random() < p_synonym:
        name = rng.choice(skill.alt_labels)
    ref: dict[str, Any] = {"name": name}
    if rng.random() >= p_no_uri:
        ref["esco_uri"] = skill.uri
    return ref


def _occupation_ref(occ: _Occupation, title: str | None = None) -> dict[str, Any]:
    return {"title": title or occ.label, "isco08": occ.isco08, "esco_uri": occ.uri}


def _weighted_sample(
    rng: random.Random, items: Sequence[T], weights: Sequence[float], k: int
) -> list[T]:
    """k items without replacement, heavier weights more likely (Efraimidis-Spirakis)."""
    keyed = sorted(
        ((rng.random() ** (1.0 / w), i) for i, w in enumerate(weights)),
        reverse=True,
    )
    return [items[i] for _, i in keyed[:k]]


def _round_to(value: float, step: float) -> float:
    return round(round(value / step) * step, 2)


_NOT_VERBS = frozenset({"pallets"})


def _reads_as_verb_phrase(skill: _Skill) -> bool:
    """ESCO skill/competence labels are almost all imperative verb phrases ("operate forklift");
    the few noun phrases ("control of expenses", "pallets loading") would break the prose."""
    if skill.is_knowledge:
        return False
    words = skill.phrase.split()
    return words[0] not in _NOT_VERBS and (len(words) < 2 or words[1] != "of")


def _duty_phrases(skills: Sequence[_Skill]) -> tuple[str, ...]:
    return tuple(s.phrase for s in skills if _reads_as_verb_phrase(s))


# ---------------------------------------------------------------- postings


def _posting_title(rng: random.Random, occ: _Occupation) -> tuple[str, str | None]:
    """The job-ad title and the qualifier used (senior / junior / part-time / None)."""
    base = occ.label
    if occ.alt_labels and rng.random() < 0.35:
        # Mostly the curated/shortest alternatives, which read like real ad titles.
        base = rng.choice(occ.alt_labels[:2])
    roll = rng.random()
    qualifier: str | None = None
    if base.lower().startswith(("senior ", "junior ", "trainee ", "head ")) and roll < 0.17:
        roll = 1.0  # no "Senior junior cook"
    if roll < 0.10:
        qualifier, title = "senior", f"Senior {base}"
    elif roll < 0.17:
        qualifier, title = "junior", f"Junior {base}"
    elif roll < 0.27:
        qualifier, title = "part-time", f"{_uc_first(base)} (part-time)"
    elif roll < 0.37:
        title = f"{_uc_first(base)} (m/f/x)"
    else:
        title = _uc_first(base)
    return title, qualifier


def _posting_description(
    rng: random.Random, occ: _Occupation, title: str, employer: str, city: str
) -> str:
    role = _lc_first(title.removesuffix(" (m/f/x)").removesuffix(" (part-time)"))
    place = rng.choice(_WORKPLACE_BY_OCCUPATION.get(occ.label) or _WORKPLACE[occ.sector])
    intro: tuple[str, ...] = rng.choice(
        (
            (
                f"{employer} in {city} is looking for {_article(role)} {role} to strengthen "
                f"our {place}.",
            ),
            (f"For our {place} in {city}, {employer} is looking for a motivated {role}.",),
            (
                f"Are you {_article(occ.label)} {occ.label} who enjoys working in a team?",
                f"{employer} is hiring in {city}.",
            ),
            (f"{employer} ({city}) has a vacancy for {_article(role)} {role}.",),
        )
    )
    sentences = list(intro)
    duties = occ.essential_duties
    if duties:
        picked = rng.sample(duties, min(len(duties), rng.randint(2, 3)))
        sentences.append(
            rng.choice(("In this role you will ", "You will ", "Every day you "))
            + _join(picked)
            + "."
        )
    extras: list[str] = []
    if rng.random() < 0.7:
        knowledge = occ.knowledge
        optional = occ.optional_duties
        if knowledge and rng.random() < 0.5:
            extras.append(f"Knowledge of {rng.choice(knowledge)} is important.")
        elif optional:
            extras.append(f"It is a plus if you can {rng.choice(optional)}.")
    if rng.random() < 0.6 or len(sentences) + len(extras) < 2:
        extras.append(rng.choice(_OFFERS[occ.sector]))
    sentences.extend(extras[: max(0, 4 - len(sentences))])  # 2-4 sentences in all
    return " ".join(sentences)


def _posting_salary(rng: random.Random, occ: _Occupation, qualifier: str | None) -> dict[str, Any]:
    period, lo, hi = _SALARY.get(occ.label, _DEFAULT_SALARY)
    factor = rng.uniform(0.95, 1.07)
    if qualifier == "senior":
        factor *= 1.15
    elif qualifier == "junior":
        factor *= 0.92
    lo, hi = lo * factor, hi * factor
    if period == "HOUR":
        lo, hi = max(lo, MIN_WAGE_HOUR), max(hi, MIN_WAGE_HOUR + 0.5)
        if rng.random() < 0.2:  # some employers still quote a monthly figure
            period, lo, hi = "MONTH", lo * HOURS_PER_MONTH, hi * HOURS_PER_MONTH
    elif occ.sector == "it" and rng.random() < 0.3:
        period, lo, hi = "YEAR", lo * 12.96, hi * 12.96  # incl. 8% holiday allowance
    else:
        lo = max(lo, MIN_WAGE_HOUR * HOURS_PER_MONTH)
    step = {"HOUR": 0.05, "MONTH": 50.0, "YEAR": 500.0}[period]
    lo_r, hi_r = _round_to(lo, step), _round_to(hi, step)
    if period == "HOUR":
        lo_r = max(lo_r, MIN_WAGE_HOUR)  # rounding must not go below the legal minimum
    if hi_r <= lo_r:
        hi_r = round(lo_r + step, 2)
    if period != "HOUR":
        return {"min": int(lo_r), "max": int(hi_r), "currency": "EUR", "period": period}
    return {"min": lo_r, "max": hi_r, "currency": "EUR", "period": period}


def _posting_dates(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.03:  # already expired on the reference date
        days_ago = rng.randint(31, 59)
        valid_days = rng.randint(30, days_ago - 1)
    else:
        days_ago = rng.randint(0, 59)
        valid_days = rng.randint(max(30, days_ago), 90)
    posted = REFERENCE_DATE - timedelta(days=days_ago)
    valid = posted + timedelta(days=valid_days)
    return posted.isoformat(), f"{valid.isoformat()}T23:59:59Z"


def _experience_min(rng: random.Random, occ: _Occupation, qualifier: str | None) -> int | None:
    if qualifier == "senior":
        return rng.choice((4, 5, 5, 7, 8))
    if qualifier == "junior":
        return rng.choice((0, 0, 1))
    if rng.random() < 0.25:
        return None
    if occ.isco08[0] == "9":
        return rng.choice((0, 0, 0, 1))
    if occ.isco08[0] in "12":
        return rng.choice((1, 2, 3, 3, 5))
    return rng.choice((0, 1, 1, 2, 3))


def _education_min(rng: random.Random, occ: _Occupation) -> int | None:
    if rng.random() < 0.2:
        return None
    return rng.choice(_EDUCATION_BY_ISCO_MAJOR.get(occ.isco08[0], (3,)))


def _employment_types(rng: random.Random, sector: str, qualifier: str | None) -> list[str]:
    table = _EMPLOYMENT_T[sector]
    types = [table.pick(rng)]
    if rng.random() < 0.3:
        second = table.pick(rng)
        if second not in types:
            types.append(second)
    if qualifier == "part-time" and "PART_TIME" not in types:
        types = ["PART_TIME", *[t for t in types if t != "FULL_TIME"]]
    return types


def _make_posting(rng: random.Random, idx: int, cat: _Catalogue) -> dict[str, Any]:
    sector = _SECTORS_POSTINGS_T.pick(rng)
    occ = rng.choice(cat.by_sector[sector])
    city = _CITY_T.pick(rng)
    employer = rng.choice(cat.employers.get(occ.label) or cat.employers[sector])
    title, qualifier = _posting_title(rng, occ)

    n_req = min(len(occ.essential), rng.randint(3, 7))
    required_skills = rng.sample(occ.essential, n_req)
    optional_pool = list(occ.optional)
    if optional_pool and rng.random() < 0.1:
        required_skills.append(optional_pool.pop(rng.randrange(len(optional_pool))))
    n_pref = min(len(optional_pool), rng.randint(0, 4))
    preferred_skills = rng.sample(optional_pool, n_pref)

    posted, valid = _posting_dates(rng)
    posting: dict[str, Any] = {
        "external_id": f"P-{idx:06d}",
        "title": title,
        "description": _posting_description(rng, occ, title, employer, city.name),
        "hiring_organization": {"name": employer},
        "occupation": _occupation_ref(occ),
        "skills_required": [_skill_ref(rng, s, 0.15, 0.1) for s in required_skills],
        "skills_preferred": [_skill_ref(rng, s, 0.15, 0.1) for s in preferred_skills],
        "experience_years_min": _experience_min(rng, occ, qualifier),
        "education_level_min": _education_min(rng, occ),
        "languages_required": list(
            _LANGS_REQUIRED_T.get(sector, _LANGS_REQUIRED_DEFAULT_T).pick(rng)
        ),
        "employment_type": _employment_types(rng, sector, qualifier),
    }
    if rng.random() >= 0.15:
        posting["base_salary"] = _posting_salary(rng, occ, qualifier)
    posting["job_location"] = _location(rng, city)
    posting["remote_allowed"] = occ.label in _REMOTE_OK and rng.random() < (
        0.55 if sector == "it" else 0.3
    )
    posting["date_posted"] = posted
    posting["valid_through"] = valid
    posting["openings"] = _OPENINGS_T.pick(rng)
    return posting


def generate_postings(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` job postings in the API's posting shape; deterministic in ``(n, seed)``."""
    if n < 0:
        raise ValueError("n must be >= 0")
    cat = _catalogue()
    rng = random.Random(seed)
    return [_make_posting(rng, i + 1, cat) for i in range(n)]


# ---------------------------------------------------------------- seekers


def _protected(rng: random.Random, sector: str) -> tuple[dict[str, Any], str, int, bool]:
    """Protected attributes (as emitted), plus age band, age and migrant background."""
    roll = rng.random()
    if roll < _NON_BINARY_SHARE:
        gender = "non_binary"
    elif roll < _NON_BINARY_SHARE + (1 - _NON_BINARY_SHARE) * _FEMALE_SHARE[sector]:
        gender = "female"
    else:
        gender = "male"
    band = _AGE_T[sector].pick(rng)
    age = rng.randint(*_AGE_RANGES[band])
    disability = rng.random() < 0.09
    migrant = rng.random() < _MIGRANT_SHARE[sector]
    consent = rng.random() < 0.85
    if consent:
        protected: dict[str, Any] = {
            "gender": gender,
            "age_band": band,
            "disability": disability,
            "migrant_background": migrant,
            "consent": True,
        }
    else:
        protected = {"consent": False}
    return protected, band, age, migrant


def _seeker_skills(
    rng: random.Random, primary: _Occupation, secondary: _Occupation | None
) -> tuple[list[dict[str, Any]], list[_Skill]]:
    pool = [*primary.essential, *primary.optional]
    weights = [2.0] * len(primary.essential) + [1.0] * len(primary.optional)
    k = max(3, math.floor(len(pool) * rng.uniform(0.4, 0.9) + 0.5))
    chosen = _weighted_sample(rng, pool, weights, min(k, len(pool)))
    if secondary is not None:
        have = {s.uri for s in chosen}
        extra = [s for s in secondary.essential if s.uri not in have]
        n_extra = math.floor(len(extra) * rng.uniform(0.2, 0.45) + 0.5)
        chosen.extend(rng.sample(extra, min(n_extra, len(extra))))
    refs = [_skill_ref(rng, s, 0.18, 0.12) for s in chosen]
    return refs, chosen


def _seeker_headline(
    rng: random.Random,
    occ: _Occupation,
    second: _Occupation | None,
    experience: int | None,
    band: str,
) -> str:
    label = occ.label
    options = [
        f"Motivated {label} available {rng.choice(('immediately', 'soon', 'from next month'))}",
        f"{_uc_first(label)} seeking {rng.choice(_SEEKER_WISHES)}",
    ]
    if experience is not None and experience >= 3:
        options.append(f"Experienced {label} looking for {rng.choice(_SEEKER_WISHES)}")
    if experience:
        years = "year" if experience == 1 else "years"
        options.append(f"{_uc_first(label)} with {experience} {years} of experience")
    if band == "16-24":
        options.append(f"Career starter seeking a first job as {_article(label)} {label}")
    if second is not None:
        options.append(f"{_uc_first(label)} / {second.label}")
    return rng.choice(options)


def _seeker_summary(
    rng: random.Random,
    occ: _Occupation,
    experience: int | None,
    skills: list[_Skill],
    city: City | None,
    languages: Sequence[str],
) -> str:
    sentences: list[str] = []
    if experience:
        sentences.append(
            f"I have worked as {_article(occ.label)} {occ.label} for {experience} "
            f"year{'s' if experience != 1 else ''}."
        )
    elif experience == 0:
        sentences.append(f"I would like to start working as {_article(occ.label)} {occ.label}.")
    else:
        sentences.append(f"I am looking for a job as {_article(occ.label)} {occ.label}.")
    if rng.random() < 0.7 and len(duties := _duty_phrases(skills)) >= 2:
        a, b = rng.sample(duties, 2)
        sentences.append(f"I can {a} and {b}.")
        if rng.random() < 0.3:
            sentences.append(rng.choice(("I like to learn new things.", "I learn quickly.")))
    if rng.random() < 0.5:
        where = f"in or near {city.name}" if city else "in my region"
        names = [_LANGUAGE_NAMES.get(code, code) for code in languages]
        if names and rng.random() < 0.5:
            sentences.append(f"I speak {_join(names)} and am looking for work {where}.")
        else:
            sentences.append(f"I am looking for work {where}.")
    return " ".join(sentences[: rng.randint(1, 3)])  # 1-3 sentences


def _seeker_salary(rng: random.Random, occ: _Occupation) -> dict[str, Any]:
    period, lo, hi = _SALARY.get(occ.label, _DEFAULT_SALARY)
    if period == "HOUR":
        lo, hi = lo * HOURS_PER_MONTH, hi * HOURS_PER_MONTH
    wish = (lo + (hi - lo) * rng.uniform(0.0, 0.6)) * rng.uniform(0.95, 1.05)
    return {"min": int(_round_to(wish, 50.0)), "currency": "EUR", "period": "MONTH"}


def _make_seeker(rng: random.Random, idx: int, cat: _Catalogue) -> dict[str, Any]:
    sector = _SECTORS_SEEKERS_T.pick(rng)
    occupations = cat.by_sector[sector]
    primary = rng.choice(occupations)
    others = [o for o in occupations if o is not primary]
    secondary = rng.choice(others) if others and rng.random() < 0.25 else None

    protected, band, age, migrant = _protected(rng, sector)
    experience: int | None = None
    if rng.random() >= 0.1:
        experience = rng.randint(0, max(0, min(age - 17, 45)))
        experience = int(experience * rng.uniform(0.5, 1.0))
    education: int | None = None
    if rng.random() >= 0.1:
        base = rng.choice(_EDUCATION_BY_ISCO_MAJOR.get(primary.isco08[0], (3,)))
        education = min(8, max(0, base + rng.choice((-1, 0, 0, 0, 1))))
        if band == "16-24":
            education = min(education, 4)
    languages = list((_SEEKER_LANGS_MIGRANT_T if migrant else _SEEKER_LANGS_LOCAL_T).pick(rng))
    city: City | None = _CITY_T.pick(rng) if rng.random() >= 0.05 else None

    skill_refs, skills = _seeker_skills(rng, primary, secondary)

    desired = [_occupation_ref(primary)]
    desire_second = secondary
    if desire_second is None and others and rng.random() < 0.15:
        desire_second = rng.choice(others)
    if desire_second is not None:
        desired.append(_occupation_ref(desire_second))
    if rng.random() < 0.06:  # only a free-text title, as typed by the seeker
        title = rng.choice((primary.label, *primary.alt_labels[:2]))
        desired[0] = {"title": title}

    seeker: dict[str, Any] = {
        "external_id": f"S-{idx:06d}",
        "headline": _seeker_headline(rng, primary, secondary, experience, band),
        "summary": _seeker_summary(rng, primary, experience, skills, city, languages),
        "skills": skill_refs,
        "desired_occupations": desired,
        "experience_years": experience,
        "education_level": education,
        "languages": languages,
    }
    if city is not None:
        seeker["location"] = _location(rng, city)
    seeker["max_distance_km"] = (
        None if rng.random() < 0.15 else rng.choice((10, 15, 20, 25, 30, 40, 50))
    )
    if rng.random() >= 0.3:
        seeker["desired_salary"] = _seeker_salary(rng, primary)
    roll = rng.random()
    if roll >= 0.2:
        seeker["employment_types"] = _employment_types(rng, sector, None)
    elif roll >= 0.1:
        seeker["employment_types"] = []
    seeker["available_from"] = (
        None
        if rng.random() < 0.3
        else (REFERENCE_DATE + timedelta(days=rng.randint(-14, 75))).isoformat()
    )
    seeker["personalised_ranking"] = rng.random() < 0.95
    seeker["protected"] = protected
    return seeker


def generate_seekers(n: int, seed: int = 11) -> list[dict[str, Any]]:
    """``n`` job seekers in the API's seeker shape; deterministic in ``(n, seed)``."""
    if n < 0:
        raise ValueError("n must be >= 0")
    cat = _catalogue()
    rng = random.Random(seed)
    return [_make_seeker(rng, i + 1, cat) for i in range(n)]


# ---------------------------------------------------------------- command line


def write_ndjson(records: Sequence[dict[str, Any]], path: Path) -> None:
    """One compact JSON object per line (UTF-8)."""
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m seed.generate",
        description="Write deterministic demo postings and seekers as NDJSON.",
    )
    parser.add_argument("--postings", type=int, default=200, help="number of postings")
    parser.add_argument("--seekers", type=int, default=500, help="number of seekers")
    parser.add_argument("--out", type=Path, default=Path("seed-out"), help="output directory")
    parser.add_argument("--posting-seed", type=int, default=7)
    parser.add_argument("--seeker-seed", type=int, default=11)
    args = parser.parse_args(argv)
    if args.postings < 0 or args.seekers < 0:
        parser.error("counts must be >= 0")

    args.out.mkdir(parents=True, exist_ok=True)
    postings_path = args.out / "postings.ndjson"
    seekers_path = args.out / "seekers.ndjson"
    write_ndjson(generate_postings(args.postings, args.posting_seed), postings_path)
    write_ndjson(generate_seekers(args.seekers, args.seeker_seed), seekers_path)
    print(
        f"wrote {args.postings} postings to {postings_path} and {args.seekers} seekers to "
        f"{seekers_path}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
