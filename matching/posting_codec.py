"""Converted postings as compact bytes in arrays, so that one copy can serve every worker
process of a machine (a file each maps read-only: service/embeddings/shared_vectors.py).

A posting's record is a `marshal`-ed tuple of plain values. What recurs across postings (a
skill, an occupation, a skill read from text, an employer, a language or contract code) is
written once, as an entry of a table of values, and a record names its entries by number. A
reader builds an entry's object when a record first needs it and keeps a bounded number of
them, so that the objects it holds stay few whatever the size of the table.

Records are exact: `decode(encode(p)) == p` for every posting profile.
"""

from __future__ import annotations

import marshal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from matching.profiles import (
    InferredOccupation,
    InferredSkill,
    Location,
    Occupation,
    PostingProfile,
    Salary,
    Skill,
)

# The bytes' layout: a reader of another layout, or of another Python (marshal's format is
# only promised within one version), must not read them.
CODEC = (
    f"posting-codec-1/python-{sys.version_info[0]}.{sys.version_info[1]}/marshal-{marshal.version}"
)
NO_RECORD = -1  # a row's version when its posting has no record

_SKILL, _OCCUPATION, _TEXT_SKILL, _TEXT_OCCUPATION, _TEXT = range(5)
# Entries built at most, per reader, before they are dropped and built again as needed.
BUILT_ENTRIES_KEPT = 1 << 16


def _built_entry(entry: tuple[Any, ...]) -> Any:
    kind, *fields = entry
    if kind == _SKILL:
        return Skill(*fields)
    if kind == _OCCUPATION:
        return Occupation(*fields)
    if kind == _TEXT_SKILL:
        return InferredSkill(*fields)
    if kind == _TEXT_OCCUPATION:
        return tuple(fields)  # (esco uri, title, isco08): the part postings share
    return fields[0]


def _text_skill(s: InferredSkill) -> tuple[Any, ...]:
    return (_TEXT_SKILL, s.esco_uri, s.name, s.confidence, s.source, s.span, s.implied, s.quote)


def _inferred_occupation(
    head: tuple[str, str, str | None], confidence: float, source: str, span: str
) -> InferredOccupation:
    uri, title, isco08 = head
    return InferredOccupation(uri, title, isco08, confidence, source, span)


class PostingEncoder:
    """Records of postings, one per row, and the table of values they share."""

    def __init__(self) -> None:
        self._records: list[bytes] = []
        self._versions: list[int] = []
        self._entries: list[bytes] = []
        self._numbers: dict[tuple[Any, ...], int] = {}

    def __len__(self) -> int:
        return len(self._records)

    def _number(self, entry: tuple[Any, ...]) -> int:
        number = self._numbers.get(entry)
        if number is None:
            number = self._numbers[entry] = len(self._entries)
            self._entries.append(marshal.dumps(entry))
        return number

    def _text(self, text: str | None) -> int | None:
        return None if text is None else self._number((_TEXT, text))

    def add(self, profile: PostingProfile | None, version: int) -> None:
        """The next row: a posting's profile at `version`, or None (no record: readers fall
        back to the database for it)."""
        if profile is None:
            self._records.append(b"")
            self._versions.append(NO_RECORD)
            return
        p, n = profile, self._number
        occupation = p.occupation
        salary = p.base_salary
        place = p.job_location
        record = (
            p.title,
            p.description,
            None
            if occupation is None
            else n((_OCCUPATION, occupation.title, occupation.isco08, occupation.esco_uri)),
            tuple(n((_SKILL, s.name, s.esco_uri)) for s in p.skills_required),
            tuple(n((_SKILL, s.name, s.esco_uri)) for s in p.skills_preferred),
            p.experience_years_min,
            p.education_level_min,
            tuple(n((_TEXT, x)) for x in p.languages_required),
            tuple(n((_TEXT, x)) for x in p.employment_type),
            None
            if salary is None
            else (n((_TEXT, salary.currency)), n((_TEXT, salary.period)), salary.min, salary.max),
            None
            if place is None
            else (place.lat, place.lon, self._text(place.city), self._text(place.region)),
            p.remote_allowed,
            None if p.date_posted is None else p.date_posted.isoformat(),
            None if p.valid_through is None else p.valid_through.isoformat(),
            self._text(p.hiring_organization),
            tuple(
                (
                    n((_TEXT_OCCUPATION, o.esco_uri, o.title, o.isco08)),
                    o.confidence,
                    n((_TEXT, o.source)),
                    o.span,
                )
                for o in p.inferred_occupations
            ),
            tuple(
                n(
                    (
                        _TEXT_SKILL,
                        s.esco_uri,
                        s.name,
                        s.confidence,
                        s.source,
                        s.span,
                        s.implied,
                        s.quote,
                    )
                )
                for s in p.inferred_skills
            ),
            p.openings,
        )
        self._records.append(marshal.dumps(record))
        self._versions.append(version)

    def arrays(self) -> dict[str, np.ndarray]:
        """The rows and the table as arrays (to be saved, then read by `EncodedPostings`)."""
        records, record_offsets = _joined(self._records)
        entries, entry_offsets = _joined(self._entries)
        return {
            "records": records,
            "record_offsets": record_offsets,
            "versions": np.array(self._versions, np.int64),
            "entries": entries,
            "entry_offsets": entry_offsets,
        }


def _joined(parts: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(parts) + 1, np.int64)
    np.cumsum([len(part) for part in parts], out=offsets[1:])
    return np.frombuffer(b"".join(parts), np.uint8), offsets


@dataclass
class EncodedPostings:
    """Reads what `PostingEncoder.arrays` wrote (arrays that may be mapped from files)."""

    records: np.ndarray
    record_offsets: np.ndarray
    versions: np.ndarray
    entries: np.ndarray
    entry_offsets: np.ndarray

    def __post_init__(self) -> None:
        self._built: dict[int, Any] = {}
        # Views that index to plain ints and bytes in C: a request decodes ~150 records, each
        # naming ~30 entries, so numpy's per-item indexing would cost more than the decoding.
        self._records = self.records.data
        self._record_offsets = self.record_offsets.data.cast("B").cast("q")
        self._versions = self.versions.data.cast("B").cast("q")
        self._entries = self.entries.data
        self._entry_offsets = self.entry_offsets.data.cast("B").cast("q")

    def __len__(self) -> int:
        return len(self.versions)

    def _entry(self, number: int) -> Any:
        built = self._built.get(number)
        if built is None:
            if len(self._built) >= BUILT_ENTRIES_KEPT:
                self._built.clear()
            start, end = self._entry_offsets[number], self._entry_offsets[number + 1]
            built = self._built[number] = _built_entry(marshal.loads(self._entries[start:end]))
        return built

    def _entries_of(self, numbers: tuple[int, ...]) -> tuple[Any, ...]:
        try:
            return tuple(map(self._built.__getitem__, numbers))
        except KeyError:  # one not built yet (or dropped)
            return tuple(map(self._entry, numbers))

    def version(self, row: int) -> int:
        return int(self._versions[row])

    def profile(self, row: int) -> PostingProfile | None:
        """The posting of a row, or None when the row has no record."""
        start, end = self._record_offsets[row], self._record_offsets[row + 1]
        if start == end:
            return None
        (
            title,
            description,
            occupation,
            skills_required,
            skills_preferred,
            experience_years_min,
            education_level_min,
            languages_required,
            employment_type,
            salary,
            place,
            remote_allowed,
            date_posted,
            valid_through,
            hiring_organization,
            inferred_occupations,
            inferred_skills,
            openings,
        ) = marshal.loads(self._records[start:end])
        entry: Callable[[int], Any] = self._entry
        many = self._entries_of
        return PostingProfile(
            title=title,
            description=description,
            occupation=None if occupation is None else entry(occupation),
            skills_required=many(skills_required),
            skills_preferred=many(skills_preferred),
            experience_years_min=experience_years_min,
            education_level_min=education_level_min,
            languages_required=many(languages_required),
            employment_type=many(employment_type),
            base_salary=None
            if salary is None
            else Salary(entry(salary[0]), entry(salary[1]), salary[2], salary[3]),
            job_location=None
            if place is None
            else Location(
                place[0],
                place[1],
                None if place[2] is None else entry(place[2]),
                None if place[3] is None else entry(place[3]),
            ),
            remote_allowed=remote_allowed,
            date_posted=None if date_posted is None else datetime.fromisoformat(date_posted),
            valid_through=None if valid_through is None else datetime.fromisoformat(valid_through),
            hiring_organization=None if hiring_organization is None else entry(hiring_organization),
            inferred_occupations=tuple(
                _inferred_occupation(entry(head), confidence, entry(source), span)
                for head, confidence, source, span in inferred_occupations
            ),
            inferred_skills=many(inferred_skills),
            openings=openings,
        )
