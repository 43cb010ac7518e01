"""Build ``seed/data/esco_taxonomy.json.gz``: the full ESCO v1.1.1 occupation pillar, compacted.

Unlike ``esco_subset.json`` (56 occupations for demo data), this holds every occupation, so that
free text can be normalised against the whole taxonomy (``matching.normalise``)::

    python -m seed.build_esco_taxonomy ESCO_DIR [--out seed/data/esco_taxonomy.json.gz]

``ESCO_DIR`` is the folder holding the official CSV download's two zips
(``esco_v1.1.1_classification_en_csv.zip``, ``esco_v1.1.1_relations_csv.zip``).

Kept: every occupation (URI, preferred label, alternative labels, ISCO-08 unit group, the first
sentences of its description, its essential and optional skills as indices into the skill list);
every skill or knowledge item linked to at least one occupation (URI, preferred label, alternative
labels, type). Skills no occupation refers to are dropped: they can neither be extracted usefully
for matching nor raise an occupation. Output is deterministic (sorted by URI).

This service uses the ESCO classification of the European Commission.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ESCO_VERSION = "1.1.1"
CLASSIFICATION_ZIP = "esco_v1.1.1_classification_en_csv.zip"
RELATIONS_ZIP = "esco_v1.1.1_relations_csv.zip"
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "esco_taxonomy.json.gz"
ATTRIBUTION = "This service uses the ESCO classification of the European Commission."
# Enough of a description to embed its gist; the full texts would triple the file.
DESCRIPTION_CHARS = 320
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

csv.field_size_limit(sys.maxsize)


def _rows(zip_path: Path, member: str) -> Iterator[dict[str, str]]:
    with zipfile.ZipFile(zip_path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(member))
        with archive.open(name) as raw:
            yield from csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))


def _labels(preferred: str, alternatives: str) -> list[str]:
    """Alternative labels, without the preferred one and without duplicates, in source order."""
    seen = {preferred.strip().lower()}
    out: list[str] = []
    for label in alternatives.split("\n"):
        label = " ".join(label.split())
        if label and label.lower() not in seen:
            seen.add(label.lower())
            out.append(label)
    return out


def _short(description: str) -> str:
    """Whole sentences up to DESCRIPTION_CHARS (at least the first one)."""
    out = ""
    for sentence in _SENTENCE_END.split(" ".join(description.split())):
        if out and len(out) + len(sentence) + 1 > DESCRIPTION_CHARS:
            break
        out = f"{out} {sentence}".strip()
    return out


def build(esco_dir: Path) -> dict[str, Any]:
    classification = esco_dir / CLASSIFICATION_ZIP
    relations = esco_dir / RELATIONS_ZIP
    links: dict[str, dict[str, list[str]]] = {}
    for row in _rows(relations, "occupationSkillRelations.csv"):
        kind = row["relationType"]
        if kind not in ("essential", "optional"):
            continue
        links.setdefault(row["occupationUri"], {}).setdefault(kind, []).append(row["skillUri"])
    linked = {uri for by_kind in links.values() for uris in by_kind.values() for uri in uris}

    skills = sorted(
        (
            row
            for row in _rows(classification, "skills_en.csv")
            if row["conceptUri"] in linked and row["status"] == "released"
        ),
        key=lambda r: r["conceptUri"],
    )
    skill_index = {row["conceptUri"]: i for i, row in enumerate(skills)}
    occupations = sorted(_rows(classification, "occupations_en.csv"), key=lambda r: r["conceptUri"])
    return {
        "_meta": {
            "attribution": ATTRIBUTION,
            "source": f"ESCO v{ESCO_VERSION}, official CSV download ({CLASSIFICATION_ZIP}, "
            f"{RELATIONS_ZIP})",
            "licence": "Commission Decision 2011/833/EU on the reuse of Commission documents",
            "version": ESCO_VERSION,
        },
        "occupations": [
            {
                "uri": row["conceptUri"],
                "label": row["preferredLabel"].strip(),
                "alt": _labels(row["preferredLabel"], row["altLabels"]),
                "isco": row["iscoGroup"].strip(),
                "desc": _short(row["description"]),
                "essential": sorted(
                    skill_index[u]
                    for u in set(links.get(row["conceptUri"], {}).get("essential", ()))
                    if u in skill_index
                ),
                "optional": sorted(
                    skill_index[u]
                    for u in set(links.get(row["conceptUri"], {}).get("optional", ()))
                    if u in skill_index
                ),
            }
            for row in occupations
        ],
        "skills": [
            {
                "uri": row["conceptUri"],
                "label": row["preferredLabel"].strip(),
                "alt": _labels(row["preferredLabel"], row["altLabels"]),
                "type": "knowledge" if row["skillType"] == "knowledge" else "skill",
            }
            for row in skills
        ],
    }


def write(data: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    # No file name and mtime=0 in the gzip header: the same download gives the same bytes.
    with (
        out.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as fh,
    ):
        fh.write(payload.encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("esco_dir", type=Path, help="folder holding the ESCO v1.1.1 CSV zips")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    for name in (CLASSIFICATION_ZIP, RELATIONS_ZIP):
        if not (args.esco_dir / name).is_file():
            parser.error(f"{args.esco_dir / name} not found")
    data = build(args.esco_dir)
    write(data, args.out)
    print(
        f"{args.out}: {len(data['occupations'])} occupations, {len(data['skills'])} skills, "
        f"{args.out.stat().st_size / 1e6:.2f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
