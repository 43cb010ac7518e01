"""ESCO text understanding through the API: what free text says is stored beside what the
record states, shown read-only, never over stated codes, and used by matching."""

from __future__ import annotations

from typing import Any

from tests.factories import Agency, posting_body, seeker_body


def _free_text_posting(external_id: str, title: str, description: str) -> dict[str, Any]:
    body = posting_body(external_id, title=title, description=description)
    for field in ("occupation", "skills_required", "skills_preferred"):
        body.pop(field, None)
    return body


async def test_a_posting_written_as_free_text_gets_its_occupation_inferred(agency: Agency) -> None:
    c, h = agency.client, agency.auth("portal")
    body = _free_text_posting(
        "U-nurse",
        "Registered nurse (m/f/d), surgical ward",
        "You care for patients before and after surgery, give medication and dress wounds.",
    )
    r = await c.post("/v1/postings", json=body, headers=h)
    assert r.status_code == 201, r.text
    inferred = r.json()["inferred"]
    top = inferred["occupations"]
    assert top and top[0]["isco08"].startswith("222"), top[:2]  # nursing professionals
    assert all(0 < o["confidence"] <= 1 for o in top)
    assert top[0]["source"] in ("title", "text") and top[0]["span"]
    assert [o["confidence"] for o in top] == sorted((o["confidence"] for o in top), reverse=True)
    assert inferred["taxonomy"]
    # read-only: sending a GET body back (or a made-up block) changes nothing
    got = (await c.get(f"/v1/postings/{r.json()['id']}", headers=h)).json()
    forged = {k: v for k, v in got.items() if k not in ("id", "created_at", "updated_at")}
    forged["inferred"] = {"occupations": [], "skills": [], "taxonomy": "x"}
    r2 = await c.put(f"/v1/postings/{got['id']}", json=forged, headers=h)
    assert r2.status_code == 200, r2.text
    assert r2.json()["inferred"]["occupations"] == top


async def test_stated_codes_stay_and_an_opted_out_seeker_is_not_read(agency: Agency) -> None:
    c, h = agency.client, agency.auth("portal")
    stated = seeker_body("U-s1", headline="Head chef in a hotel kitchen")
    r = await c.post("/v1/seekers", json=stated, headers=h)
    assert r.status_code == 201, r.text
    wanted = [(o["title"], o["isco08"]) for o in r.json()["desired_occupations"]]
    assert wanted == [(o["title"], o["isco08"]) for o in stated["desired_occupations"]]
    assert r.json()["inferred"]["occupations"]  # inferred beside it
    opted_out = seeker_body("U-s2", headline="Head chef", personalised_ranking=False)
    r = await c.post("/v1/seekers", json=opted_out, headers=h)
    assert r.status_code == 201 and r.json()["inferred"] is None


async def test_bulk_imports_infer_too(agency: Agency) -> None:
    c, h = agency.client, agency.auth("portal")
    rows = [
        _free_text_posting("U-b1", "Forklift driver", "Load and unload trucks in a warehouse."),
        _free_text_posting("U-b2", "Primary school teacher", "Teach a class of 8 year olds."),
    ]
    r = await c.post("/v1/postings:bulk", json=rows, headers=h)
    assert r.status_code == 200 and r.json()["created"] == 2, r.text
    page = (await c.get("/v1/postings?external_id=U-b2", headers=h)).json()["items"]
    assert page[0]["inferred"]["occupations"][0]["isco08"].startswith("23")  # teaching


async def test_free_text_on_both_sides_ranks_the_same_occupation_first(agency: Agency) -> None:
    """Neither side states a code: the occupation factor works from inferred occupations."""
    c, h = agency.client, agency.auth("portal")
    here = {"lat": 52.37, "lon": 4.89}
    for i, (title, text) in enumerate(
        [
            ("Warehouse operative", "Pick and pack orders, drive a forklift, keep stock."),
            ("Staff nurse", "Care for patients on a hospital ward and give medication."),
            ("Line cook", "Prepare dishes in a busy restaurant kitchen."),
        ]
    ):
        body = _free_text_posting(f"U-m{i}", title, text)
        body["job_location"] = here
        assert (await c.post("/v1/postings", json=body, headers=h)).status_code == 201
    seeker = seeker_body("U-ms", location=here, max_distance_km=30)
    seeker.update(
        headline="Nurse",
        summary="Ten years on surgical wards looking after patients.",
        skills=[],
        desired_occupations=[],
    )
    sid = (await c.post("/v1/seekers", json=seeker, headers=h)).json()["id"]
    items = (await c.get(f"/v1/seekers/{sid}/matches", headers=h)).json()["items"]
    assert items[0]["external_id"] == "U-m1"
    assert items[0]["factors"]["occupation"] > max(i["factors"]["occupation"] for i in items[1:])
    # the explanation says what was read, and from which words
    notes = items[0]["explanation"]["notes"]
    assert any(n.startswith("Inferred from the profile: ") for n in notes), notes
    assert any(n.startswith("Inferred from the job ad: ") for n in notes), notes
    # postings that list no skills are matched on the skills read from their ads, and say so
    read_any = False
    for item in items:
        posting = (await c.get(f"/v1/postings/{item['posting_id']}", headers=h)).json()
        read = posting["inferred"]["skills"]
        codes = {n["code"]: n["params"] for n in item["explanation"]["note_codes"]}
        if read:
            read_any = True
            named = codes["skills_inferred_posting"]["skills"].split(", ")
            assert named == [s["name"] for s in read][: len(named)], (named, read)
        else:
            assert "skills_inferred_posting" not in codes
    assert read_any, "no skill was read from any of the three ads"
