"""Postings as compact records (matching/posting_codec.py): read back exactly as written, from
arrays mapped from files, whatever the reader kept of the shared table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from matching import posting_codec
from matching.posting_codec import NO_RECORD, EncodedPostings, PostingEncoder
from matching.profiles import (
    InferredOccupation,
    InferredSkill,
    Location,
    Occupation,
    PostingProfile,
    Salary,
    Skill,
)


def _full(i: int) -> PostingProfile:
    return PostingProfile(
        title=f"Forklift driver {i}",
        description="Move pallets." if i % 2 else None,
        occupation=Occupation("forklift operator", "8344", "http://data.europa.eu/esco/o/1"),
        skills_required=(
            Skill("operate forklift", "http://data.europa.eu/esco/s/1"),
            Skill(f"s{i}"),
        ),
        skills_preferred=(Skill("stock control"),),
        experience_years_min=2 if i % 2 else 1.5,  # an int stays an int
        education_level_min=3,
        languages_required=("nl", "en"),
        employment_type=("FULL_TIME",),
        base_salary=Salary("EUR", "MONTH", 2500.0, None),
        job_location=Location(51.95 + i / 1000, 4.45, "Rotterdam", None),
        remote_allowed=bool(i % 3),
        date_posted=datetime(2026, 11, 1, 8, 30, tzinfo=timezone(timedelta(hours=2))),
        valid_through=datetime(2099, 1, 1, tzinfo=UTC),
        hiring_organization=f"Employer {i % 3}",
        inferred_occupations=(
            InferredOccupation(
                "http://data.europa.eu/esco/o/1",
                "forklift operator",
                "8344",
                0.81,
                "title",
                f"driver {i}",
            ),
            InferredOccupation(
                "http://data.europa.eu/esco/o/2", "warehouse worker", None, 0.1, "text", ""
            ),
        ),
        inferred_skills=(
            InferredSkill(
                "http://data.europa.eu/esco/s/1",
                "operate forklift",
                0.9,
                "text",
                (0, 8),
                False,
                "forklift",
            ),
            InferredSkill("http://data.europa.eu/esco/s/3", "load cargo", 0.4, "text", None, True),
        ),
        openings=1 + i,
    )


PROFILES = [
    PostingProfile(title="Only a title"),
    *(_full(i) for i in range(7)),
    PostingProfile(
        title="Nurse", job_location=Location(52.0, 5.0), base_salary=Salary("EUR", "HOUR")
    ),
]


def _encoded(profiles: list[PostingProfile | None]) -> dict[str, np.ndarray]:
    encoder = PostingEncoder()
    for version, profile in enumerate(profiles, start=1):
        encoder.add(profile, version)
    return encoder.arrays()


def test_every_posting_reads_back_equal_from_mapped_files(tmp_path: Path) -> None:
    arrays = _encoded([*PROFILES, None])
    for name, values in arrays.items():
        np.save(tmp_path / f"{name}.npy", values)
    mapped = {name: np.load(tmp_path / f"{name}.npy", mmap_mode="r") for name in arrays}
    reader = EncodedPostings(**mapped)
    assert len(reader) == len(PROFILES) + 1
    assert [reader.profile(row) for row in range(len(PROFILES))] == PROFILES
    assert [reader.version(row) for row in range(len(PROFILES))] == list(range(1, 10))
    assert reader.profile(len(PROFILES)) is None and reader.version(len(PROFILES)) == NO_RECORD
    back = reader.profile(1)
    assert back is not None and back.date_posted is not None
    assert back.date_posted.utcoffset() == timedelta(hours=2)
    assert isinstance(reader.profile(2).experience_years_min, int)  # type: ignore[union-attr]


def test_what_postings_share_is_written_once() -> None:
    arrays = _encoded([_full(i) for i in range(200)])
    one = _encoded([_full(0)])
    # 200 postings hold 3 employers and the same skills: the table grows by their few own
    # entries (skill s<i>), not by a copy of every shared value.
    assert len(arrays["entry_offsets"]) - len(one["entry_offsets"]) < 2 * 200
    assert arrays["entries"].nbytes < 3 * one["entries"].nbytes + 200 * 40


def test_a_reader_that_drops_its_built_entries_still_reads_every_posting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(posting_codec, "BUILT_ENTRIES_KEPT", 3)
    reader = EncodedPostings(**_encoded(list(PROFILES)))
    for _ in range(2):
        assert [reader.profile(row) for row in range(len(PROFILES))] == PROFILES
    assert len(reader._built) <= 3
