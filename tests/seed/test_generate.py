"""Tests for the ESCO subset and the deterministic demo-data generator."""

from __future__ import annotations

import json
import re
import statistics
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from seed import build_esco_subset, generate
from seed.generate import (
    AGE_BANDS,
    CITIES,
    EMPLOYMENT_TYPES,
    GENDERS,
    POSTING_KEYS,
    REFERENCE_DATE,
    SALARY_PERIODS,
    SECTORS,
    SEEKER_KEYS,
    generate_postings,
    generate_seekers,
    load_esco_subset,
)
from tests.factories import ESCO_DIR

SUBSET_PATH = Path(generate.__file__).resolve().parent / "data" / "esco_subset.json"
ATTRIBUTION = "This service uses the ESCO classification of the European Commission."

# Generous bounding box of the Netherlands (mainland).
NL_LAT = (50.70, 53.60)
NL_LON = (3.30, 7.30)

N = 1500  # records per kind for the property checks


@pytest.fixture(scope="module")
def subset() -> dict[str, Any]:
    return load_esco_subset()


@pytest.fixture(scope="module")
def postings() -> list[dict[str, Any]]:
    return generate_postings(N)


@pytest.fixture(scope="module")
def seekers() -> list[dict[str, Any]]:
    return generate_seekers(N)


@pytest.fixture(scope="module")
def occupation_by_uri(subset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["uri"]: o for o in subset["occupations"]}


# ---------------------------------------------------------------- the subset file


def test_subset_file_is_small() -> None:
    size = SUBSET_PATH.stat().st_size
    assert size < 2_000_000
    assert size < 500_000  # the target


def test_subset_carries_attribution_and_licence(subset: dict[str, Any]) -> None:
    meta = subset["_meta"]
    assert meta["attribution"] == ATTRIBUTION
    assert "1.1.1" in meta["source"]
    assert "2011/833/EU" in meta["licence"]
    readme = (SUBSET_PATH.parent.parent / "README.md").read_text(encoding="utf-8")
    assert ATTRIBUTION in readme


def test_subset_occupations_cover_all_sectors(subset: dict[str, Any]) -> None:
    occupations = subset["occupations"]
    assert len(occupations) >= 40
    by_sector: dict[str, int] = {}
    for occ in occupations:
        by_sector[occ["sector"]] = by_sector.get(occ["sector"], 0) + 1
    assert set(by_sector) == set(SECTORS)
    assert all(count >= 5 for count in by_sector.values()), by_sector
    assert len({o["uri"] for o in occupations}) == len(occupations)
    assert len({o["label"] for o in occupations}) == len(occupations)


def test_subset_occupations_are_complete(subset: dict[str, Any]) -> None:
    skills = subset["skills"]
    for occ in subset["occupations"]:
        assert occ["uri"].startswith("http://data.europa.eu/esco/occupation/"), occ
        assert re.fullmatch(r"\d{4}", occ["isco08"]), occ["label"]
        assert occ["isco_label"], occ["label"]
        assert len(occ["essential_skills"]) >= 3, occ["label"]
        assert len(occ["essential_skills"]) <= build_esco_subset.MAX_ESSENTIAL
        assert len(occ["optional_skills"]) <= build_esco_subset.MAX_OPTIONAL
        assert not set(occ["essential_skills"]) & set(occ["optional_skills"])
        for uri in (*occ["essential_skills"], *occ["optional_skills"]):
            assert uri in skills, (occ["label"], uri)
        assert occ["label"] not in occ["alt_labels"]


def test_subset_skills_are_well_formed(subset: dict[str, Any]) -> None:
    for uri, skill in subset["skills"].items():
        assert uri.startswith("http://data.europa.eu/esco/skill/")
        assert skill["label"]
        assert len(skill["alt_labels"]) <= 3
        assert skill["label"] not in skill["alt_labels"]
        assert skill["type"] in {"skill/competence", "knowledge"}


def test_subset_matches_builder_selection(subset: dict[str, Any]) -> None:
    expected = {s: list(labels) for s, labels in build_esco_subset.SECTORS.items()}
    assert subset["sectors"] == expected
    assert [o["label"] for o in subset["occupations"]] == [
        label for labels in build_esco_subset.SECTORS.values() for label in labels
    ]


def test_every_occupation_has_a_salary_range(subset: dict[str, Any]) -> None:
    for occ in subset["occupations"]:
        period, lo, hi = generate._SALARY[occ["label"]]
        assert period in {"HOUR", "MONTH"}
        assert lo < hi
        if period == "HOUR":
            assert lo >= generate.MIN_WAGE_HOUR
        else:
            assert lo >= generate.MIN_WAGE_HOUR * generate.HOURS_PER_MONTH


@pytest.mark.skipif(
    not (ESCO_DIR / build_esco_subset.CLASSIFICATION_ZIP).exists(),
    reason="the ESCO CSV download is not in this workspace (set JOBMATCH_ESCO_DIR)",
)
def test_subset_is_reproducible_from_the_esco_download(subset: dict[str, Any]) -> None:
    assert build_esco_subset.build(ESCO_DIR) == subset


# ---------------------------------------------------------------- determinism and speed


def test_postings_are_deterministic() -> None:
    assert generate_postings(200) == generate_postings(200)
    assert generate_postings(200, seed=3) == generate_postings(200, seed=3)
    assert generate_postings(200, seed=3) != generate_postings(200, seed=4)
    # A longer run starts with the same records as a shorter one.
    assert generate_postings(300)[:200] == generate_postings(200)


def test_seekers_are_deterministic() -> None:
    assert generate_seekers(200) == generate_seekers(200)
    assert generate_seekers(200, seed=5) == generate_seekers(200, seed=5)
    assert generate_seekers(200, seed=5) != generate_seekers(200, seed=6)
    assert generate_seekers(300)[:200] == generate_seekers(200)


def test_output_is_json_ready(
    postings: list[dict[str, Any]], seekers: list[dict[str, Any]]
) -> None:
    for rec in (*postings[:200], *seekers[:200]):
        assert json.loads(json.dumps(rec)) == rec


def test_zero_and_negative_counts() -> None:
    assert generate_postings(0) == []
    assert generate_seekers(0) == []
    with pytest.raises(ValueError):
        generate_postings(-1)
    with pytest.raises(ValueError):
        generate_seekers(-1)


def test_large_runs_are_fast() -> None:
    start = time.perf_counter()
    postings = generate_postings(10_000)
    seekers = generate_seekers(10_000)
    elapsed = time.perf_counter() - start
    assert len(postings) == len(seekers) == 10_000
    assert len({p["external_id"] for p in postings}) == 10_000
    assert len({s["external_id"] for s in seekers}) == 10_000
    assert elapsed < 10.0  # typically ~1.5 s; generous for slow CI machines


# ---------------------------------------------------------------- shared checks


def _check_location(loc: dict[str, Any]) -> None:
    assert set(loc) == {"lat", "lon", "city", "region"}
    assert NL_LAT[0] < loc["lat"] < NL_LAT[1]
    assert NL_LON[0] < loc["lon"] < NL_LON[1]
    city = next(c for c in CITIES if c.name == loc["city"])
    assert loc["region"] == city.region
    assert abs(loc["lat"] - city.lat) <= 0.03 + 1e-9
    assert abs(loc["lon"] - city.lon) <= 0.03 + 1e-9


def _check_skill(ref: dict[str, Any], skills: dict[str, Any]) -> None:
    assert set(ref) <= {"name", "esco_uri"}
    assert isinstance(ref["name"], str) and ref["name"]
    if "esco_uri" in ref:
        skill = skills[ref["esco_uri"]]  # the URI exists in the subset
        assert ref["name"] == skill["label"] or ref["name"] in skill["alt_labels"]


def _check_occupation(ref: dict[str, Any], by_uri: dict[str, dict[str, Any]]) -> None:
    assert set(ref) <= {"title", "isco08", "esco_uri"}
    assert ref["title"]
    if "esco_uri" in ref:
        occ = by_uri[ref["esco_uri"]]
        assert ref["isco08"] == occ["isco08"]
        assert re.fullmatch(r"\d{4}", ref["isco08"])


def _check_languages(langs: list[str]) -> None:
    assert isinstance(langs, list)
    assert len(set(langs)) == len(langs)
    for code in langs:
        assert re.fullmatch(r"[a-z]{2}", code), code


# ---------------------------------------------------------------- postings


def test_posting_shape_and_values(
    postings: list[dict[str, Any]],
    subset: dict[str, Any],
    occupation_by_uri: dict[str, dict[str, Any]],
) -> None:
    skills = subset["skills"]
    required_keys = POSTING_KEYS - {"base_salary"}
    for i, p in enumerate(postings, start=1):
        assert set(p) <= POSTING_KEYS, set(p) - POSTING_KEYS
        assert required_keys <= set(p), required_keys - set(p)
        assert p["external_id"] == f"P-{i:06d}"
        assert p["title"] and p["description"]
        assert 2 <= len(re.findall(r"[.?](?= [A-Z]|$)", p["description"])) <= 4
        assert set(p["hiring_organization"]) == {"name"}
        assert p["hiring_organization"]["name"]

        _check_occupation(p["occupation"], occupation_by_uri)
        occ = occupation_by_uri[p["occupation"]["esco_uri"]]
        assert 3 <= len(p["skills_required"]) <= 8
        for ref in (*p["skills_required"], *p["skills_preferred"]):
            _check_skill(ref, skills)
        # Required skills are mostly the occupation's essential skills.
        essential = set(occ["essential_skills"])
        with_uri = [r["esco_uri"] for r in p["skills_required"] if "esco_uri" in r]
        assert sum(u not in essential for u in with_uri) <= 1
        preferred = {r["esco_uri"] for r in p["skills_preferred"] if "esco_uri" in r}
        assert preferred <= set(occ["optional_skills"])

        exp = p["experience_years_min"]
        assert exp is None or (isinstance(exp, int) and 0 <= exp <= 15)
        edu = p["education_level_min"]
        assert edu is None or (isinstance(edu, int) and 0 <= edu <= 8)
        _check_languages(p["languages_required"])
        assert p["employment_type"]
        assert set(p["employment_type"]) <= set(EMPLOYMENT_TYPES)
        assert len(set(p["employment_type"])) == len(p["employment_type"])

        if "base_salary" in p:
            sal = p["base_salary"]
            assert set(sal) == {"min", "max", "currency", "period"}
            assert sal["currency"] == "EUR"
            assert sal["period"] in SALARY_PERIODS
            assert 0 < sal["min"] < sal["max"]
            if sal["period"] == "HOUR":
                assert generate.MIN_WAGE_HOUR <= sal["min"] < 40
            elif sal["period"] == "MONTH":
                assert 2000 <= sal["min"] < 10_000
            else:
                assert 25_000 <= sal["min"] < 150_000

        _check_location(p["job_location"])
        assert isinstance(p["remote_allowed"], bool)
        if p["remote_allowed"]:
            assert occ["sector"] in {"it", "administration"}

        posted = date.fromisoformat(p["date_posted"])
        assert REFERENCE_DATE - timedelta(days=60) < posted <= REFERENCE_DATE
        assert p["valid_through"].endswith("Z")
        valid = datetime.fromisoformat(p["valid_through"].replace("Z", "+00:00"))
        assert valid.tzinfo is not None
        assert valid.date() > posted
        assert 30 <= (valid.date() - posted).days <= 90
        assert isinstance(p["openings"], int) and 1 <= p["openings"] <= 5


def test_posting_variety(postings: list[dict[str, Any]], subset: dict[str, Any]) -> None:
    skills = subset["skills"]
    n = len(postings)
    no_salary = sum("base_salary" not in p for p in postings) / n
    assert 0.08 < no_salary < 0.25
    expired = sum(
        datetime.fromisoformat(p["valid_through"].replace("Z", "+00:00")).date() < REFERENCE_DATE
        for p in postings
    )
    assert 0.005 < expired / n < 0.08
    assert any(p["remote_allowed"] for p in postings)
    assert any(p["experience_years_min"] is None for p in postings)
    assert any(p["education_level_min"] is None for p in postings)
    assert {pe for p in postings for pe in p["employment_type"]} >= {
        "FULL_TIME",
        "PART_TIME",
        "TEMPORARY",
        "CONTRACTOR",
    }
    assert {s["base_salary"]["period"] for s in postings if "base_salary" in s} == set(
        SALARY_PERIODS
    )
    refs = [r for p in postings for r in p["skills_required"]]
    assert any("esco_uri" not in r for r in refs)
    synonyms = [r for r in refs if "esco_uri" in r and r["name"] != skills[r["esco_uri"]]["label"]]
    assert 0.03 < len(synonyms) / len(refs) < 0.3
    titles = {p["title"] for p in postings}
    assert any("(m/f/x)" in t for t in titles)
    assert any(t.startswith("Senior ") for t in titles)
    assert len({p["occupation"]["esco_uri"] for p in postings}) >= 40
    assert len({p["job_location"]["city"] for p in postings}) >= 10
    it_langs = [p["languages_required"] for p in postings if p["occupation"]["isco08"][:2] == "25"]
    assert any(langs == ["en"] for langs in it_langs)


# ---------------------------------------------------------------- seekers


def test_seeker_shape_and_values(
    seekers: list[dict[str, Any]],
    subset: dict[str, Any],
    occupation_by_uri: dict[str, dict[str, Any]],
) -> None:
    skills = subset["skills"]
    always = {
        "external_id",
        "headline",
        "summary",
        "skills",
        "desired_occupations",
        "experience_years",
        "education_level",
        "languages",
        "max_distance_km",
        "available_from",
        "personalised_ranking",
        "protected",
    }
    for i, s in enumerate(seekers, start=1):
        assert set(s) <= SEEKER_KEYS, set(s) - SEEKER_KEYS
        assert always <= set(s), always - set(s)
        assert s["external_id"] == f"S-{i:06d}"
        assert s["headline"] and len(s["headline"]) < 120
        assert s["summary"].endswith(".")
        assert 1 <= len(re.findall(r"\.(?: |$)", s["summary"])) <= 3

        assert len(s["skills"]) >= 3
        for ref in s["skills"]:
            _check_skill(ref, skills)
        uris = [r["esco_uri"] for r in s["skills"] if "esco_uri" in r]
        assert len(uris) == len(set(uris))

        assert 1 <= len(s["desired_occupations"]) <= 2
        for ref in s["desired_occupations"]:
            _check_occupation(ref, occupation_by_uri)

        exp = s["experience_years"]
        assert exp is None or (isinstance(exp, int) and 0 <= exp <= 50)
        edu = s["education_level"]
        assert edu is None or (isinstance(edu, int) and 0 <= edu <= 8)
        assert s["languages"]
        _check_languages(s["languages"])
        if "location" in s:
            _check_location(s["location"])
        dist = s["max_distance_km"]
        assert dist is None or (isinstance(dist, int) and 10 <= dist <= 50)
        if "desired_salary" in s:
            sal = s["desired_salary"]
            assert set(sal) == {"min", "currency", "period"}
            assert sal["currency"] == "EUR" and sal["period"] == "MONTH"
            assert 2000 <= sal["min"] < 10_000
        if "employment_types" in s:
            assert set(s["employment_types"]) <= set(EMPLOYMENT_TYPES)
        if s["available_from"] is not None:
            date.fromisoformat(s["available_from"])
        assert isinstance(s["personalised_ranking"], bool)

        prot = s["protected"]
        if prot["consent"]:
            assert set(prot) == {
                "gender",
                "age_band",
                "disability",
                "migrant_background",
                "consent",
            }
            assert prot["gender"] in GENDERS
            assert prot["age_band"] in AGE_BANDS
            assert isinstance(prot["disability"], bool)
            assert isinstance(prot["migrant_background"], bool)
        else:
            assert prot == {"consent": False}


def test_seeker_variety(
    seekers: list[dict[str, Any]], occupation_by_uri: dict[str, dict[str, Any]]
) -> None:
    n = len(seekers)

    def share(pred: Any) -> float:
        return sum(1 for s in seekers if pred(s)) / n

    assert 0.02 < share(lambda s: "location" not in s) < 0.1
    assert 0.2 < share(lambda s: "desired_salary" not in s) < 0.4
    assert share(lambda s: "employment_types" not in s) > 0.03
    assert share(lambda s: s.get("employment_types") == []) > 0.03
    assert share(lambda s: s["max_distance_km"] is None) > 0.05
    assert share(lambda s: s["experience_years"] is None) > 0.03
    assert share(lambda s: s["available_from"] is None) > 0.1
    assert 0.8 < share(lambda s: s["protected"]["consent"]) < 0.9
    assert 0.9 < share(lambda s: s["personalised_ranking"]) < 0.99
    assert share(lambda s: any("esco_uri" not in d for d in s["desired_occupations"])) > 0.02
    assert share(lambda s: len(s["desired_occupations"]) == 2) > 0.1
    assert share(lambda s: any("esco_uri" not in r for r in s["skills"])) > 0.3
    assert share(lambda s: s["languages"] != ["nl"]) > 0.3
    assert share(lambda s: "nl" not in s["languages"]) > 0.03

    # Some seekers hold skills of a second occupation: URIs outside their first one's list.
    def has_foreign_skills(s: dict[str, Any]) -> bool:
        first = s["desired_occupations"][0]
        if "esco_uri" not in first:
            return False
        occ = occupation_by_uri[first["esco_uri"]]
        own = set(occ["essential_skills"]) | set(occ["optional_skills"])
        return any(r.get("esco_uri") not in own for r in s["skills"] if "esco_uri" in r)

    assert share(has_foreign_skills) > 0.1


def test_seeker_skill_coverage_is_partial(
    seekers: list[dict[str, Any]], occupation_by_uri: dict[str, dict[str, Any]]
) -> None:
    coverages = []
    for s in seekers:
        first = s["desired_occupations"][0]
        if "esco_uri" not in first:
            continue
        occ = occupation_by_uri[first["esco_uri"]]
        pool = set(occ["essential_skills"]) | set(occ["optional_skills"])
        have = {r["esco_uri"] for r in s["skills"] if "esco_uri" in r} & pool
        coverages.append(len(have) / len(pool))
    assert 0.4 < statistics.median(coverages) < 0.8
    assert max(coverages) <= 1.0
    assert min(coverages) < 0.5


def test_gender_shares_vary_by_sector(
    seekers: list[dict[str, Any]], occupation_by_uri: dict[str, dict[str, Any]]
) -> None:
    counts: dict[str, list[int]] = {}
    for s in generate_seekers(4000, seed=99):
        first = s["desired_occupations"][0]
        prot = s["protected"]
        if "esco_uri" not in first or not prot["consent"]:
            continue
        sector = occupation_by_uri[first["esco_uri"]]["sector"]
        c = counts.setdefault(sector, [0, 0])
        c[0] += prot["gender"] == "female"
        c[1] += 1
    female = {sector: f / t for sector, (f, t) in counts.items()}
    assert female["care"] > 0.7
    assert female["construction"] < 0.2
    assert female["logistics"] < 0.35
    assert female["care"] - female["construction"] > 0.5
    genders = {s["protected"].get("gender") for s in seekers}
    assert {"female", "male", "non_binary"} <= genders


# ---------------------------------------------------------------- command line


def test_cli_writes_ndjson(tmp_path: Path) -> None:
    out = tmp_path / "seed-out"
    assert generate.main(["--postings", "5", "--seekers", "7", "--out", str(out)]) == 0
    postings = [
        json.loads(line) for line in (out / "postings.ndjson").read_text("utf-8").splitlines()
    ]
    seekers = [
        json.loads(line) for line in (out / "seekers.ndjson").read_text("utf-8").splitlines()
    ]
    assert postings == generate_postings(5)
    assert seekers == generate_seekers(7)
