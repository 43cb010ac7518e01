"""Build ``seed/data/esco_subset.json`` from the official ESCO v1.1.1 CSV download.

Run once by a developer; the output is committed so that nothing at runtime needs the full
archive::

    python -m seed.build_esco_subset ESCO_DIR [--out seed/data/...]

ESCO_DIR is the folder holding the ESCO v1.1.1 CSV zips (in this project's workspace,
`../shared/data/esco`).

The subset holds ~56 everyday occupations in eight sectors (care, logistics, construction,
retail, hospitality, manufacturing, IT, administration), each with its ISCO-08 group, a few
alternative labels, and a capped list of essential and optional skills; and, for every skill
kept, its preferred label and up to three alternative labels (synonyms).

This service uses the ESCO classification of the European Commission.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ESCO_VERSION = "1.1.1"
CLASSIFICATION_ZIP = "esco_v1.1.1_classification_en_csv.zip"
RELATIONS_ZIP = "esco_v1.1.1_relations_csv.zip"
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "esco_subset.json"

ATTRIBUTION = "This service uses the ESCO classification of the European Commission."

# Occupations by sector, by their exact ESCO v1.1.1 preferred label (English). Every label is
# checked against occupations_en.csv; a missing label is an error, not a silent skip.
SECTORS: dict[str, tuple[str, ...]] = {
    "care": (
        "nurse assistant",
        "home care aide",
        "social care worker",
        "healthcare assistant",
        "disability support worker",
        "nurse responsible for general care",
        "child care worker",
    ),
    "logistics": (
        "warehouse worker",
        "forklift operator",
        "warehouse order picker",
        "cargo vehicle driver",
        "car and van delivery driver",
        "bicycle courier",
        "freight transport dispatcher",
    ),
    "construction": (
        "bricklayer",
        "electrician",
        "carpenter",
        "plumber",
        "roofer",
        "construction painter",
        "plasterer",
    ),
    "retail": (
        "shop assistant",
        "cashier",
        "sales assistant",
        "shelf filler",
        "shop manager",
        "supermarket manager",
        "retail department manager",
    ),
    "hospitality": (
        "cook",
        "waiter/waitress",
        "hospitality establishment receptionist",
        "kitchen porter",
        "bartender",
        "chef",
        "room attendant",
    ),
    "manufacturing": (
        "computer numerical control machine operator",
        "welder",
        "metal products assembler",
        "product quality inspector",
        "packaging and filling machine operator",
        "food production operator",
        "injection moulding operator",
    ),
    "it": (
        "software developer",
        "ICT system administrator",
        "data analyst",
        "ICT help desk agent",
        "web developer",
        "ICT network technician",
        "database administrator",
    ),
    "administration": (
        "administrative assistant",
        "accounting assistant",
        "receptionist",
        "human resources assistant",
        "office clerk",
        "payroll clerk",
        "secretary",
    ),
}

# Alternative labels that read well as job-ad titles; kept first when present. Each must be a
# real ESCO alternative label of that occupation (checked at build time).
PREFERRED_ALT_LABELS: dict[str, tuple[str, ...]] = {
    "nurse assistant": ("nursing assistant", "assistant nurse"),
    "home care aide": ("personal care worker",),
    "nurse responsible for general care": ("district nurse", "ward nurse"),
    "warehouse worker": ("warehouse operative", "order picker"),
    "forklift operator": ("forklift driver", "forklift truck operator"),
    "cargo vehicle driver": ("lorry driver", "truck driver", "HGV driver"),
    "car and van delivery driver": ("delivery driver", "delivery van driver"),
    "electrician": ("installation electrician", "maintenance electrician"),
    "plumber": ("domestic plumber", "commercial plumber"),
    "roofer": ("roof tiler",),
    "welder": ("arc welder", "gas welder"),
    "chef": ("chef de partie", "sous-chef"),
    "receptionist": ("front desk agent",),
    "payroll clerk": ("payroll administrator", "wages clerk"),
    "ICT network technician": ("network technician", "network engineer"),
    "database administrator": ("DBA", "database manager"),
    "cashier": ("checkout operator", "supermarket cashier"),
    "shop manager": ("store manager",),
    "cook": ("junior cook",),
    "waiter/waitress": ("waiter", "waitress"),
    "hospitality establishment receptionist": ("hotel receptionist",),
    "kitchen porter": ("dish washer", "kitchen hand"),
    "computer numerical control machine operator": ("CNC machine operator", "CNC machinist"),
    "metal products assembler": ("assembler", "production worker"),
    "product quality inspector": ("quality inspector", "quality control inspector"),
    "injection moulding operator": ("injection moulding machine operator",),
    "software developer": ("software engineer", "programmer"),
    "ICT system administrator": ("IT system administrator",),
    "ICT help desk agent": ("IT help desk agent", "ICT service desk agent"),
    "accounting assistant": ("assistant accountant", "junior accountant"),
}

MAX_ESSENTIAL = 15
MAX_ESSENTIAL_KNOWLEDGE = 3  # of the essential cap, at most this many "knowledge" items
MAX_OPTIONAL = 10
MAX_OCCUPATION_ALT_LABELS = 5
MAX_SKILL_ALT_LABELS = 3
MAX_LABEL_LEN = 60
NEAR_DUPLICATE_RATIO = 0.88  # alternative labels longer than this are not useful as synonyms


def _read_csv(zip_path: Path, member: str) -> Iterator[dict[str, str]]:
    with zipfile.ZipFile(zip_path) as zf, zf.open(member) as raw:
        yield from csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _split_labels(raw: str) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for part in raw.split("\n"):
        label = " ".join(part.split())
        if label and label.lower() not in seen:
            seen.add(label.lower())
            out.append(label)
    return out


def _pick_alt_labels(
    preferred: str, alt_raw: str, limit: int, first: tuple[str, ...] = ()
) -> list[str]:
    """``first`` (if real), then the shortest distinct alternative labels; never ``preferred``."""
    real = {a.lower(): a for a in _split_labels(alt_raw)}
    chosen: list[str] = []
    for label in first:
        if label.lower() not in real:
            raise SystemExit(f"{label!r} is not an ESCO alternative label of {preferred!r}")
        chosen.append(real[label.lower()])
    candidates = [
        a
        for a in _split_labels(alt_raw)
        if a.lower() != preferred.lower() and len(a) <= MAX_LABEL_LEN
    ]
    # Stable: order by length, then alphabetically, so reruns give the same file.
    candidates.sort(key=lambda a: (len(a), a.lower()))
    for cand in candidates:
        if len(chosen) >= limit:
            break
        # Skip plurals, spelling variants and typos ("plumbber") of labels already kept.
        if any(_near_duplicate(cand, kept) for kept in [preferred, *chosen]):
            continue
        chosen.append(cand)
    return chosen


def _near_duplicate(a: str, b: str) -> bool:
    a, b = a.lower().replace("-", " "), b.lower().replace("-", " ")
    return difflib.SequenceMatcher(None, a, b).ratio() >= NEAR_DUPLICATE_RATIO


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _rank_skills(uris: list[str], skills: dict[str, dict[str, str]]) -> list[str]:
    """Prefer skill/competence over knowledge, then shorter labels; deterministic."""
    return sorted(
        (u for u in uris if u in skills),
        key=lambda u: (
            skills[u]["skillType"] != "skill/competence",
            len(skills[u]["preferredLabel"]),
            skills[u]["preferredLabel"],
        ),
    )


def _cap_essential(uris: list[str], skills: dict[str, dict[str, str]]) -> list[str]:
    ranked = _rank_skills(uris, skills)
    competences = [u for u in ranked if skills[u]["skillType"] == "skill/competence"]
    knowledge = [u for u in ranked if skills[u]["skillType"] != "skill/competence"]
    n_knowledge = min(len(knowledge), MAX_ESSENTIAL_KNOWLEDGE)
    n_comp = min(len(competences), MAX_ESSENTIAL - n_knowledge)
    n_knowledge = min(len(knowledge), MAX_ESSENTIAL - n_comp)
    return competences[:n_comp] + knowledge[:n_knowledge]


def build(esco_dir: Path) -> dict[str, Any]:
    cls_zip = esco_dir / CLASSIFICATION_ZIP
    rel_zip = esco_dir / RELATIONS_ZIP

    wanted = {label: sector for sector, labels in SECTORS.items() for label in labels}
    occupations: dict[str, dict[str, str]] = {}
    for row in _read_csv(cls_zip, "occupations_en.csv"):
        label = row["preferredLabel"].strip()
        if label in wanted and row["status"] == "released":
            occupations[label] = row
    missing = sorted(set(wanted) - set(occupations))
    if missing:
        raise SystemExit(f"occupations not found in ESCO {ESCO_VERSION}: {missing}")

    isco_labels = {
        row["code"]: row["preferredLabel"].strip()
        for row in _read_csv(cls_zip, "ISCOGroups_en.csv")
    }

    occ_uris = {row["conceptUri"]: label for label, row in occupations.items()}
    relations: dict[str, dict[str, list[str]]] = {
        uri: {"essential": [], "optional": []} for uri in occ_uris
    }
    for row in _read_csv(rel_zip, "occupationSkillRelations.csv"):
        rel = relations.get(row["occupationUri"])
        if rel is not None and row["relationType"] in rel:
            rel[row["relationType"]].append(row["skillUri"])

    needed = {u for rel in relations.values() for lst in rel.values() for u in lst}
    skills: dict[str, dict[str, str]] = {}
    for row in _read_csv(cls_zip, "skills_en.csv"):
        if row["conceptUri"] in needed and row["status"] == "released":
            skills[row["conceptUri"]] = row

    out_occupations: list[dict[str, Any]] = []
    kept_skills: set[str] = set()
    for sector, labels in SECTORS.items():
        for label in labels:
            row = occupations[label]
            uri = row["conceptUri"]
            essential = _cap_essential(relations[uri]["essential"], skills)
            optional = _rank_skills(
                [u for u in relations[uri]["optional"] if u not in essential], skills
            )[:MAX_OPTIONAL]
            kept_skills.update(essential)
            kept_skills.update(optional)
            isco = row["iscoGroup"].strip()
            out_occupations.append(
                {
                    "uri": uri,
                    "label": label,
                    "alt_labels": _pick_alt_labels(
                        label,
                        row["altLabels"],
                        MAX_OCCUPATION_ALT_LABELS,
                        PREFERRED_ALT_LABELS.get(label, ()),
                    ),
                    "isco08": isco,
                    "isco_label": isco_labels.get(isco),
                    "sector": sector,
                    "description": _first_sentence(row["description"]),
                    "essential_skills": essential,
                    "optional_skills": optional,
                }
            )

    out_skills = {
        uri: {
            "label": skills[uri]["preferredLabel"].strip(),
            "alt_labels": _pick_alt_labels(
                skills[uri]["preferredLabel"].strip(),
                skills[uri]["altLabels"],
                MAX_SKILL_ALT_LABELS,
            ),
            "type": skills[uri]["skillType"].strip() or None,
        }
        for uri in sorted(kept_skills)
    }

    return {
        "_meta": {
            "attribution": ATTRIBUTION,
            "source": f"ESCO v{ESCO_VERSION} (English), official CSV download",
            "source_url": "https://esco.ec.europa.eu/en/use-esco/download",
            "mirror": (
                "tabiya-tech/tabiya-esco-datasets-and-tools, commit 1a8a32e, datasets/esco/v1.1.1/"
            ),
            "source_files": {
                CLASSIFICATION_ZIP: {"md5": _md5(cls_zip)},
                RELATIONS_ZIP: {"md5": _md5(rel_zip)},
            },
            "licence": (
                "Reuse of ESCO is allowed under Commission Decision 2011/833/EU on the reuse "
                "of Commission documents, with attribution to the European Commission."
            ),
            "licence_url": "https://eur-lex.europa.eu/eli/dec/2011/833/oj",
            "note": (
                "A small subset: selected occupations; essential skills capped at "
                f"{MAX_ESSENTIAL} and optional skills at {MAX_OPTIONAL} per occupation, "
                "preferring skill/competence items and shorter labels; up to "
                f"{MAX_SKILL_ALT_LABELS} alternative labels per skill. Built by "
                "seed/build_esco_subset.py."
            ),
        },
        "sectors": {sector: list(labels) for sector, labels in SECTORS.items()},
        "occupations": out_occupations,
        "skills": out_skills,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("esco_dir", type=Path, help="folder with the ESCO v1.1.1 CSV zips")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    subset = build(args.esco_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(subset, ensure_ascii=False, indent=1, sort_keys=False) + "\n"
    args.out.write_text(text, encoding="utf-8")
    n_occ = len(subset["occupations"])
    n_sk = len(subset["skills"])
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size:,} bytes): {n_occ} occupations, {n_sk} skills", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
