"""A list that is not a ranking says so (text the model cannot read, no semantic signal, ties),
and an explanation stays small whatever the posting lists."""

from __future__ import annotations

from typing import Any

import orjson

from tests.factories import Agency, posting_body, seeker_body

POSTINGS = [
    ("Forklift driver", "Load and unload lorries, move pallets with a forklift truck."),
    ("Registered nurse", "Care for patients on a hospital ward, give medication, keep records."),
    ("Line cook", "Prepare hot dishes in a busy restaurant kitchen, keep the station clean."),
    ("Welder", "Weld steel structures (MIG/TIG) from technical drawings in a workshop."),
    ("Bookkeeper", "Keep the ledgers, process invoices and prepare monthly VAT returns."),
]


async def _postings(agency: Agency) -> None:
    for i, (title, description) in enumerate(POSTINGS):
        body = posting_body(
            f"RW-P-{i}",
            title=title,
            description=description,
            occupation={"title": title},
            skills_required=[],
            skills_preferred=[],
        )
        r = await agency.client.post("/v1/postings", json=body, headers=agency.auth("portal"))
        assert r.status_code == 201, r.text


async def _matches(agency: Agency, ext: str, **profile: Any) -> dict[str, Any]:
    h = agency.auth("caseworker")
    body = seeker_body(ext, skills=[], desired_occupations=[], **profile)
    r = await agency.client.post("/v1/seekers", json=body, headers=agency.auth("portal"))
    assert r.status_code == 201, r.text
    r = await agency.client.get(f"/v1/seekers/{r.json()['id']}/matches", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _codes(listing: dict[str, Any]) -> list[str]:
    return [w["code"] for w in listing["warnings"]]


async def test_a_profile_the_model_cannot_read_is_flagged_not_ranked(agency: Agency) -> None:
    """With the default (multilingual) model a Chinese or German forklift driver is ranked like
    an English one; a profile of emoji only has no words any model reads and is flagged. (An
    English-only model's warnings for Chinese text: tests/matching/test_readability.py.)"""
    await _postings(agency)
    english = await _matches(
        agency,
        "RW-EN",
        headline="Forklift operator",
        summary="Five years of loading lorries and moving pallets with a forklift truck.",
    )
    chinese = await _matches(
        agency, "RW-ZH", headline="叉车司机", summary="五年仓库装卸经验，熟练驾驶叉车搬运货盘。"
    )
    german = await _matches(
        agency,
        "RW-DE",
        headline="Gabelstaplerfahrer",
        summary="Fünf Jahre Erfahrung im Be- und Entladen von Lastwagen und im Lager.",
    )
    for listing in (english, chinese, german):
        assert listing["warnings"] == [], listing["warnings"]
        assert listing["items"][0]["title"] == "Forklift driver", listing["items"]
        assert not listing["items"][0]["explanation"].get("warnings")

    emoji = await _matches(agency, "RW-EMOJI", headline="🚜📦", summary="💪🙂👍 🚚🚚")
    assert "text_unreadable" in _codes(emoji), emoji["warnings"]
    for item in emoji["items"]:
        assert item["explanation"]["warnings"] == emoji["warnings"]
        assert emoji["warnings"][0]["message"] in item["explanation"]["notes"]


async def test_the_listing_says_when_every_score_is_the_same(agency: Agency) -> None:
    await _postings(agency)
    r = await agency.client.post(
        "/v1/seekers",
        json=seeker_body(
            "RW-OPT", skills=[], desired_occupations=[], personalised_ranking=False, location=None
        ),
        headers=agency.auth("portal"),
    )
    sid = r.json()["id"]
    r = await agency.client.get(f"/v1/seekers/{sid}/matches", headers=agency.auth("caseworker"))
    listing = r.json()
    scores = {round(i["score"], 3) for i in listing["items"]}
    assert len(scores) == 1 and len(listing["items"]) > 1, scores
    assert _codes(listing) == ["scores_tied"]
    # stored with the list: reading it again shows the same
    again = await agency.client.get(
        f"/v1/match-lists/{listing['id']}", headers=agency.auth("caseworker")
    )
    assert again.json()["warnings"] == listing["warnings"]


async def test_an_explanation_lists_the_few_most_important_skills_and_counts_the_rest(
    agency: Agency,
) -> None:
    long = "x" * 150
    required = [{"name": f"required skill {i:03d} {long}"} for i in range(200)]
    preferred = [{"name": f"preferred skill {i:03d} {long}"} for i in range(200)]
    h = agency.auth("portal")
    r = await agency.client.post(
        "/v1/postings",
        json=posting_body("RW-BIG", skills_required=required, skills_preferred=preferred),
        headers=h,
    )
    assert r.status_code == 201, r.text
    r = await agency.client.post("/v1/seekers", json=seeker_body("RW-S"), headers=h)
    r = await agency.client.get(
        f"/v1/seekers/{r.json()['id']}/matches", headers=agency.auth("caseworker")
    )
    [item] = [i for i in r.json()["items"] if i["external_id"] == "RW-BIG"]
    e = item["explanation"]
    assert len(orjson.dumps(item)) < 6_000, len(orjson.dumps(item))
    assert e["missing_required_skills"][0].startswith("required skill 000")  # posting's order
    assert len(e["missing_required_skills"]) == 10 and len(e["missing_skills"]) == 10
    assert e["omitted_skills"]["missing_required_skills"] == 190
    assert e["omitted_skills"]["missing_skills"] == 390
    assert all(len(n) <= 80 for n in e["missing_skills"])
    assert any("and 195 more" in n for n in e["notes"]), e["notes"]
