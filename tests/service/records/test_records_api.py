"""Seekers and postings through the API: CRUD, pagination, validation, bulk import, JSON-LD."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from tests.factories import Agency, posting_body, seeker_body


async def test_seeker_crud_round_trip(agency: Agency) -> None:
    c = agency.client
    r = await c.post("/v1/seekers", json=seeker_body(), headers=agency.auth("portal"))
    assert r.status_code == 201, r.text
    created = r.json()
    sid = created["id"]
    assert r.headers["location"] == f"/v1/seekers/{sid}"
    assert created["skills"][0]["name"] == "operate forklift"
    # protected data is never echoed to a portal key ...
    assert "protected" not in created or created["protected"] is None
    r = await c.get(f"/v1/seekers/{sid}", headers=agency.auth("portal"))
    assert r.status_code == 200 and r.json().get("protected") is None
    # ... but a caseworker sees it
    r = await c.get(f"/v1/seekers/{sid}", headers=agency.auth("caseworker"))
    shown = {k: v for k, v in r.json()["protected"].items() if v is not None}
    assert shown == {"consent": True, "gender": "female", "age_band": "35-44"}
    etag = r.headers["etag"]

    r = await c.patch(
        f"/v1/seekers/{sid}",
        content=orjson.dumps({"headline": "Reach truck driver", "desired_salary": None}),
        headers={**agency.auth("portal"), "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["headline"] == "Reach truck driver"
    assert r.json().get("desired_salary") is None
    assert r.json()["skills"] == created["skills"]  # untouched fields stay
    assert r.headers["etag"] != etag
    r = await c.get(f"/v1/seekers/{sid}", headers=agency.auth("caseworker"))
    assert r.json()["protected"]["gender"] == "female"  # a patch keeps protected data

    replacement = seeker_body(headline="Warehouse worker", skills=[{"name": "pick orders"}])
    r = await c.put(f"/v1/seekers/{sid}", json=replacement, headers=agency.auth("portal"))
    assert r.status_code == 200
    assert r.json()["skills"] == [{"name": "pick orders", "esco_uri": None}]

    r = await c.delete(f"/v1/seekers/{sid}", headers=agency.auth("portal"))
    assert r.status_code == 204
    r = await c.get(f"/v1/seekers/{sid}", headers=agency.auth("portal"))
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_protected_without_consent_is_not_stored(agency: Agency, pool: Any) -> None:
    body = seeker_body(protected={"consent": False, "gender": "male"})
    r = await agency.client.post("/v1/seekers", json=body, headers=agency.auth("caseworker"))
    assert r.status_code == 201
    assert {k: v for k, v in r.json()["protected"].items() if v is not None} == {"consent": False}
    async with pool.acquire() as conn:
        gender = await conn.fetchval(
            "SELECT gender FROM seeker_protected WHERE seeker_id = $1::uuid", r.json()["id"]
        )
    assert gender is None


async def test_embedding_written_with_model_name(agency: Agency, pool: Any, embedder: Any) -> None:
    r = await agency.client.post("/v1/postings", json=posting_body(), headers=agency.auth("portal"))
    pid = r.json()["id"]
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT model, vector_dims(embedding) AS dims FROM posting_embedding "
            "WHERE posting_id = $1::uuid",
            pid,
        )
    assert row["model"] == embedder.name == "universal-sentence-encoder-multilingual-3"
    assert row["dims"] == embedder.dimension == 512


async def test_validation_errors_name_fields_and_store_nothing(agency: Agency) -> None:
    c = agency.client
    bad = seeker_body(education_level=12, languages=["dutch"], unknown_field=1)
    r = await c.post("/v1/seekers", json=bad, headers=agency.auth("portal"))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"body.education_level", "body.languages.0", "body.unknown_field"} <= fields
    r = await c.get("/v1/seekers", headers=agency.auth("portal"))
    assert r.json()["items"] == []

    r = await c.post(
        "/v1/postings",
        content=b"{not json",
        headers={**agency.auth("portal"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"


async def test_duplicate_external_id_conflicts(agency: Agency) -> None:
    c = agency.client
    assert (
        await c.post("/v1/postings", json=posting_body(), headers=agency.auth("portal"))
    ).status_code == 201
    r = await c.post("/v1/postings", json=posting_body(), headers=agency.auth("portal"))
    assert r.status_code == 409
    assert r.json()["status"] == 409


async def test_cursor_pagination_visits_every_record_once(agency: Agency) -> None:
    rows = [posting_body(f"P-{i}", title=f"Cook {i}") for i in range(7)]
    r = await agency.client.post("/v1/postings:bulk", json=rows, headers=agency.auth("portal"))
    assert r.json()["created"] == 7
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        r = await agency.client.get("/v1/postings", params=params, headers=agency.auth("portal"))
        assert r.status_code == 200
        page = r.json()
        seen += [p["external_id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"P-{i}" for i in range(7))
    assert pages == 3
    r = await agency.client.get(
        "/v1/postings", params={"limit": 1000}, headers=agency.auth("portal")
    )
    assert r.status_code == 422
    r = await agency.client.get(
        "/v1/postings", params={"cursor": "garbage!"}, headers=agency.auth("portal")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.cursor"


async def test_bulk_reports_what_single_writes_warn_about(agency: Agency) -> None:
    """A record stored with a warning (unknown town, already expired) is reported by position,
    as a single write's answer would: a portal loading thousands would not see it otherwise."""
    h = agency.auth("portal")
    postings = [
        posting_body("B-ok", job_location={"city": "Utrecht", "country": "NL"}),
        posting_body("B-nowhere", job_location={"city": "Xyzzyveen"}),
        posting_body("B-old", valid_through="2001-01-01T00:00:00Z"),
        posting_body("B-bad", title=""),  # refused: an error, not a warning
    ]
    r = await agency.client.post("/v1/postings:bulk", json=postings, headers=h)
    assert r.status_code == 200, r.text
    job = r.json()
    assert (job["created"], job["failed"]) == (3, 1)
    assert [
        (w["index"], w["external_id"], [(x["field"], x["code"]) for x in w["warnings"]])
        for w in job["warnings"]
    ] == [
        (1, "B-nowhere", [("body.job_location", "place_not_found")]),
        (2, "B-old", [("body.valid_through", "already_expired")]),
    ]
    again = (await agency.client.get(f"/v1/jobs/{job['id']}", headers=h)).json()
    assert again["warnings"] == job["warnings"] and "warnings" not in again["result"]
    # a record refused as a duplicate is not warned about: it was not stored
    r = await agency.client.post("/v1/postings:bulk", json=postings[1:2], headers=h)
    assert r.json()["failed"] == 1 and r.json()["warnings"] == []

    seekers = [seeker_body("S-nowhere", location={"city": "Xyzzyveen"})]
    r = await agency.client.post("/v1/seekers:bulk", json=seekers, headers=h)
    assert [w["warnings"][0]["code"] for w in r.json()["warnings"]] == ["place_not_found"]


async def test_bulk_ndjson_stores_valid_and_reports_bad(agency: Agency) -> None:
    lines = [
        orjson.dumps(seeker_body("S-a")),
        orjson.dumps(seeker_body("S-b", education_level=-1)),
        b"{this is not json",
        orjson.dumps(seeker_body("S-a")),  # repeated in the same upload
        orjson.dumps(seeker_body("S-c", location=None)),
    ]
    r = await agency.client.post(
        "/v1/seekers:bulk",
        content=b"\n".join(lines),
        headers={**agency.auth("portal"), "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    job = r.json()
    assert (job["total"], job["created"], job["failed"], job["status"]) == (5, 2, 3, "succeeded")
    by_index = {e["index"]: e for e in job["errors"]}
    assert set(by_index) == {1, 2, 3}
    assert by_index[1]["errors"][0]["field"] == "education_level"
    assert by_index[3]["external_id"] == "S-a"
    r = await agency.client.get(f"/v1/jobs/{job['id']}", headers=agency.auth("portal"))
    assert r.json()["created"] == 2
    # re-importing an existing record reports it and stores nothing twice
    r = await agency.client.post(
        "/v1/seekers:bulk", json=[seeker_body("S-c")], headers=agency.auth("portal")
    )
    assert (
        r.json()["failed"] == 1
        and "already exists" in r.json()["errors"][0]["errors"][0]["message"]
    )
    r = await agency.client.get("/v1/seekers", headers=agency.auth("portal"))
    assert sorted(s["external_id"] for s in r.json()["items"]) == ["S-a", "S-c"]


async def test_jsonld_job_posting_is_accepted(agency: Agency) -> None:
    doc = {
        "@context": "https://schema.org/",
        "@type": "JobPosting",
        "identifier": {"@type": "PropertyValue", "name": "Gemeente", "value": "JL-77"},
        "title": "Cook",
        "description": "Prepare meals in a busy hotel kitchen.",
        "datePosted": "2026-11-01",
        "validThrough": "2099-03-18T00:00",
        "employmentType": ["FULL_TIME", "PART_TIME"],
        "hiringOrganization": {"@type": "Organization", "name": "Hotel de Zon"},
        "jobLocation": {
            "@type": "Place",
            "address": {"addressLocality": "Utrecht", "addressRegion": "UT"},
            "geo": {"@type": "GeoCoordinates", "latitude": 52.09, "longitude": 5.12},
        },
        "baseSalary": {
            "@type": "MonetaryAmount",
            "currency": "EUR",
            "value": {
                "@type": "QuantitativeValue",
                "minValue": 14,
                "maxValue": 17,
                "unitText": "HOUR",
            },
        },
        "skills": "prepare meals, food safety",
    }
    r = await agency.client.post(
        "/v1/postings",
        content=orjson.dumps(doc),
        headers={**agency.auth("portal"), "Content-Type": "application/ld+json"},
    )
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["external_id"] == "JL-77"
    assert p["job_location"]["city"] == "Utrecht"
    assert p["base_salary"] == {"min": 14.0, "max": 17.0, "currency": "EUR", "period": "HOUR"}
    assert [s["name"] for s in p["skills_required"]] == ["prepare meals", "food safety"]
    assert p["employment_type"] == ["FULL_TIME", "PART_TIME"]

    r = await agency.client.post(
        "/v1/postings",
        content=orjson.dumps({"@type": "Event", "name": "x"}),
        headers={**agency.auth("portal"), "Content-Type": "application/ld+json"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.@type"


async def test_body_size_limit_answers_413(agency: Agency) -> None:
    huge = seeker_body(summary="x" * 3_000_000)
    r = await agency.client.post("/v1/seekers", json=huge, headers=agency.auth("portal"))
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_tenant_isolation_on_records(agency: Agency, other_agency: Agency) -> None:
    c = agency.client
    sid = (await c.post("/v1/seekers", json=seeker_body(), headers=agency.auth("portal"))).json()[
        "id"
    ]
    pid = (await c.post("/v1/postings", json=posting_body(), headers=agency.auth("portal"))).json()[
        "id"
    ]
    foreign = other_agency.auth("portal")
    for path in (f"/v1/seekers/{sid}", f"/v1/postings/{pid}", f"/v1/seekers/{sid}/matches"):
        r = await c.get(path, headers=foreign)
        assert r.status_code == 404, path
    assert (
        await c.put(f"/v1/postings/{pid}", json=posting_body(), headers=foreign)
    ).status_code == 404
    assert (await c.delete(f"/v1/seekers/{sid}", headers=foreign)).status_code == 404
    assert (await c.get("/v1/seekers", headers=foreign)).json()["items"] == []
    # the other agency may reuse the same external ids
    r = await c.post("/v1/seekers", json=seeker_body(), headers=foreign)
    assert r.status_code == 201
    assert (await c.get(f"/v1/seekers/{sid}", headers=agency.auth("portal"))).status_code == 200


async def test_auth_required_and_roles_enforced(agency: Agency) -> None:
    c = agency.client
    r = await c.get("/v1/postings")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = await c.get("/v1/postings", headers={"Authorization": "Bearer jm_nope"})
    assert r.status_code == 401
    r = await c.post("/v1/postings", json=posting_body(), headers=agency.auth("auditor"))
    assert r.status_code == 403
    r = await c.post("/v1/postings", json=posting_body(), headers=agency.auth("caseworker"))
    assert r.status_code == 403


async def test_bulk_import_runs_on_the_job_queue(agency: Agency, app: Any, pool: Any) -> None:
    """A slow import answers 202 with the job; the queue's worker finishes it."""
    state = app.state.jobmatch
    original = state.settings.bulk_wait_seconds
    object.__setattr__(state.settings, "bulk_wait_seconds", 0.0)
    try:
        rows = [posting_body(f"Q-{i}") for i in range(5)]
        r = await agency.client.post("/v1/postings:bulk", json=rows, headers=agency.auth("portal"))
    finally:
        object.__setattr__(state.settings, "bulk_wait_seconds", original)
    assert r.status_code == 202 and r.headers["location"] == f"/v1/jobs/{r.json()['id']}"
    for _ in range(200):
        job = (await agency.client.get(r.headers["location"], headers=agency.auth("portal"))).json()
        if job["status"] == "succeeded":
            break
        await asyncio.sleep(0.05)
    assert (job["status"], job["created"], job["done"], job["total"]) == ("succeeded", 5, 5, 5)
    async with pool.acquire() as conn:  # the uploaded records do not linger in the job row
        params = await conn.fetchval("SELECT params FROM job WHERE id = $1::uuid", job["id"])
    assert params == {}


def _jsonld(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": "https://schema.org/",
        "@type": "JobPosting",
        "identifier": "JL-HAAG",
        "title": "Nurse",
        "description": "Care for patients on a surgical ward.",
        "validThrough": "2099-03-18",
        "jobLocation": {
            "@type": "Place",
            "address": {
                "@type": "PostalAddress",
                "addressLocality": "Den Haag",
                "addressRegion": "Zuid-Holland",
                "addressCountry": "NL",
            },
        },
    }
    doc.update(over)
    return doc


async def _post_jsonld(agency: Agency, doc: dict[str, Any]) -> httpx.Response:
    return await agency.client.post(
        "/v1/postings",
        content=orjson.dumps(doc),
        headers={**agency.auth("portal"), "Content-Type": "application/ld+json"},
    )


async def test_jsonld_address_without_geo_is_kept_and_geocoded_offline(agency: Agency) -> None:
    r = await _post_jsonld(agency, _jsonld())
    assert r.status_code == 201, r.text
    place = r.json()["job_location"]
    assert place["city"] == "Den Haag" and place["region"] == "Zuid-Holland"
    assert place["country"] == "NL"
    assert abs(place["lat"] - 52.08) < 0.05 and abs(place["lon"] - 4.30) < 0.05
    assert r.json()["warnings"] == []

    # A seeker 60 km away with a 100 km radius gets it, at its real distance.
    seeker = seeker_body("S-HAAG", location={"lat": 52.37, "lon": 4.90}, max_distance_km=100)
    sid = await agency.client.post("/v1/seekers", json=seeker, headers=agency.auth("portal"))
    matches = await agency.client.get(
        f"/v1/seekers/{sid.json()['id']}/matches", headers=agency.auth("portal")
    )
    [item] = [i for i in matches.json()["items"] if i["external_id"] == "JL-HAAG"]
    assert 40 < item["explanation"]["distance_km"] < 60


async def test_an_unknown_place_is_kept_with_a_warning_and_matched_as_distance_unknown(
    agency: Agency,
) -> None:
    doc = _jsonld(
        identifier="JL-NOWHERE",
        jobLocation={"address": {"addressLocality": "Xyzzyveen", "addressCountry": "NL"}},
    )
    r = await _post_jsonld(agency, doc)
    assert r.status_code == 201, r.text
    assert r.json()["job_location"] == {
        "lat": None,
        "lon": None,
        "city": "Xyzzyveen",
        "region": None,
        "country": "NL",
    }
    assert [(w["field"], w["code"]) for w in r.json()["warnings"]] == [
        ("body.job_location", "place_not_found")
    ]
    # Never invisible: a seeker far away with a small radius still gets it, distance unknown.
    seeker = seeker_body("S-FAR", location={"lat": 40.4, "lon": -3.7}, max_distance_km=5)
    sid = await agency.client.post("/v1/seekers", json=seeker, headers=agency.auth("portal"))
    matches = await agency.client.get(
        f"/v1/seekers/{sid.json()['id']}/matches", headers=agency.auth("portal")
    )
    [item] = [i for i in matches.json()["items"] if i["external_id"] == "JL-NOWHERE"]
    assert item["explanation"]["distance_km"] is None
    assert "Distance unknown: a location is missing." in item["explanation"]["notes"]
    assert "distance" not in item["factors"] or item["factors"]["distance"] == 0


async def test_a_seeker_placed_by_city_is_looked_up_and_matched_by_distance(
    agency: Agency,
) -> None:
    """A portal often knows a seeker's town, not coordinates (and a town discloses less)."""
    h = agency.auth("portal")
    near = posting_body("P-UTRECHT", job_location={"city": "Utrecht", "country": "NL"})
    far = posting_body("P-GRONINGEN", job_location={"city": "Groningen", "country": "NL"})
    for body in (near, far):
        assert (await agency.client.post("/v1/postings", json=body, headers=h)).status_code == 201
    seeker = seeker_body("S-CITY", location={"city": "Amersfoort", "country": "NL"})
    r = await agency.client.post("/v1/seekers", json={**seeker, "max_distance_km": 40}, headers=h)
    assert r.status_code == 201, r.text
    place = r.json()["location"]
    assert place["city"] == "Amersfoort" and place["country"] == "NL"
    assert abs(place["lat"] - 52.16) < 0.05 and abs(place["lon"] - 5.39) < 0.05
    assert r.json()["warnings"] == []
    matches = await agency.client.get(f"/v1/seekers/{r.json()['id']}/matches", headers=h)
    found = {i["external_id"]: i for i in matches.json()["items"]}
    assert "P-GRONINGEN" not in found  # ~130 km: beyond the 40 km asked for
    assert 15 < found["P-UTRECHT"]["explanation"]["distance_km"] < 25

    unknown = seeker_body("S-NOWHERE", location={"city": "Xyzzyveen"})
    r = await agency.client.post("/v1/seekers", json=unknown, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["location"]["lat"] is None and r.json()["location"]["city"] == "Xyzzyveen"
    assert [(w["field"], w["code"]) for w in r.json()["warnings"]] == [
        ("body.location", "place_not_found")
    ]
    r = await agency.client.post(
        "/v1/seekers", json=seeker_body("S-HALF", location={"lat": 52.1}), headers=h
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.location.lon"


async def test_a_patch_that_changes_the_address_moves_the_place(agency: Agency) -> None:
    """The coordinates looked up for the old town must not stay with the new one."""
    h = agency.auth("portal")
    body = posting_body("P-MOVES", job_location={"city": "Den Haag", "country": "NL"})
    r = await agency.client.post("/v1/postings", json=body, headers=h)
    assert r.status_code == 201 and abs(r.json()["job_location"]["lat"] - 52.08) < 0.05
    pid = r.json()["id"]
    moved = {"job_location": {"city": "Groningen"}}
    r = await agency.client.patch(f"/v1/postings/{pid}", json=moved, headers=h)
    assert r.status_code == 200, r.text
    place = r.json()["job_location"]
    assert place["city"] == "Groningen" and place["country"] == "NL"
    assert abs(place["lat"] - 53.22) < 0.05 and abs(place["lon"] - 6.57) < 0.05

    # Coordinates patched with the address are taken as given; a patch of other fields keeps
    # the place as it is.
    given = {"job_location": {"city": "Zwolle", "lat": 52.5, "lon": 6.1}}
    r = await agency.client.patch(f"/v1/postings/{pid}", json=given, headers=h)
    assert (r.json()["job_location"]["lat"], r.json()["job_location"]["lon"]) == (52.5, 6.1)
    r = await agency.client.patch(f"/v1/postings/{pid}", json={"title": "Welder"}, headers=h)
    assert (r.json()["job_location"]["lat"], r.json()["job_location"]["lon"]) == (52.5, 6.1)

    sid = (
        await agency.client.post(
            "/v1/seekers", json=seeker_body("S-MOVES", location={"city": "Utrecht"}), headers=h
        )
    ).json()["id"]
    r = await agency.client.patch(
        f"/v1/seekers/{sid}", json={"location": {"city": "Groningen"}}, headers=h
    )
    assert r.status_code == 200 and abs(r.json()["location"]["lat"] - 53.22) < 0.05


async def test_a_joblocation_list_keeps_every_place(agency: Agency) -> None:
    places = [
        {"address": {"addressLocality": "Utrecht", "addressCountry": "NL"}},
        {
            "geo": {"latitude": 51.44, "longitude": 5.48},
            "address": {"addressLocality": "Eindhoven"},
        },
    ]
    r = await _post_jsonld(agency, _jsonld(identifier="JL-TWO", jobLocation=places))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["job_location"]["city"] == "Utrecht" and body["job_location"]["lat"] is not None
    assert [p["city"] for p in body["other_locations"]] == ["Eindhoven"]
    assert body["other_locations"][0]["lat"] == 51.44
    assert [w["code"] for w in body["warnings"]] == ["distance_to_first_place"]


async def test_a_json_posting_may_name_a_city_instead_of_coordinates(agency: Agency) -> None:
    body = posting_body("P-CITY", job_location={"city": "Rotterdam", "country": "Netherlands"})
    r = await agency.client.post("/v1/postings", json=body, headers=agency.auth("portal"))
    assert r.status_code == 201, r.text
    assert abs(r.json()["job_location"]["lat"] - 51.92) < 0.05
    for bad in ({"lat": 52.0}, {"region": "ZH"}):
        r = await agency.client.post(
            "/v1/postings",
            json=posting_body("P-BAD", job_location=bad),
            headers=agency.auth("portal"),
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith(
            "body.job_location"
        ), r.text


async def test_a_portal_round_trip_keeps_protected_data(agency: Agency) -> None:
    c = agency.client
    r = await c.post("/v1/seekers", json=seeker_body("S-RT"), headers=agency.auth("caseworker"))
    sid = r.json()["id"]
    read = (await c.get(f"/v1/seekers/{sid}", headers=agency.auth("portal"))).json()
    assert read["protected"] is None and read["protected_shown"] is False
    body = {
        k: v
        for k, v in read.items()
        if k not in ("id", "created_at", "updated_at", "protected_shown")
    }
    r = await c.put(f"/v1/seekers/{sid}", json=body, headers=agency.auth("portal"))
    assert r.status_code == 200, r.text
    body.pop("protected")
    r = await c.put(f"/v1/seekers/{sid}", json=body, headers=agency.auth("portal"))
    assert r.status_code == 200, r.text
    r = await c.patch(
        f"/v1/seekers/{sid}",
        content=orjson.dumps({"protected": None}),
        headers={**agency.auth("portal"), "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    shown = (await c.get(f"/v1/seekers/{sid}", headers=agency.auth("caseworker"))).json()
    assert shown["protected_shown"] is True
    assert shown["protected"]["gender"] == "female" and shown["protected"]["consent"] is True
    # A portal can still withdraw consent, explicitly.
    r = await c.put(
        f"/v1/seekers/{sid}",
        json={**body, "protected": {"consent": False}},
        headers=agency.auth("portal"),
    )
    shown = (await c.get(f"/v1/seekers/{sid}", headers=agency.auth("caseworker"))).json()
    assert {k: v for k, v in shown["protected"].items() if v is not None} == {"consent": False}
    # A caseworker, who sees it, clears it by leaving it out of a replacement.
    r = await c.put(f"/v1/seekers/{sid}", json=body, headers=agency.auth("caseworker"))
    assert r.json()["protected"] is None and r.json()["protected_shown"] is True


async def test_duplicate_json_keys_are_refused(agency: Agency) -> None:
    raw = b'{"external_id": "P-DUP", "title": "Cook", "title": "Chef"}'
    for path in ("/v1/postings", "/v1/postings:bulk"):
        content = raw if path == "/v1/postings" else b"[" + raw + b"]"
        r = await agency.client.post(
            path,
            content=content,
            headers={**agency.auth("portal"), "Content-Type": "application/json"},
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [{"field": "body", "message": "duplicate key 'title'"}]
    r = await agency.client.get("/v1/postings?external_id=P-DUP", headers=agency.auth("portal"))
    assert r.json()["items"] == []


async def test_form_and_text_bodies_answer_the_same_415(agency: Agency) -> None:
    answers = []
    for content_type in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data"):
        for method, path in (("POST", "/v1/postings"), ("PUT", "/v1/postings/" + "0" * 32)):
            r = await agency.client.request(
                method,
                path,
                content=b"title=Cook",
                headers={**agency.auth("portal"), "Content-Type": content_type},
            )
            assert r.headers["content-type"].startswith("application/problem+json")
            answers.append((r.status_code, r.json()["title"], r.json()["detail"]))
    assert len(set(answers)) == 1 and answers[0][0] == 415


async def test_jsonld_sent_as_json_gets_a_hint(agency: Agency) -> None:
    r = await agency.client.post("/v1/postings", json=_jsonld(), headers=agency.auth("portal"))
    assert r.status_code == 422
    assert "application/ld+json" in r.json()["detail"]
    assert len(r.json()["errors"]) == 1


async def test_a_valid_through_date_means_the_end_of_that_day_in_json_and_jsonld(
    agency: Agency,
) -> None:
    r = await agency.client.post(
        "/v1/postings",
        json=posting_body("P-DAY", valid_through="2099-03-18"),
        headers=agency.auth("portal"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["valid_through"] == "2099-03-18T23:59:59Z"
    r = await _post_jsonld(agency, _jsonld(identifier="JL-DAY"))
    assert r.json()["valid_through"] == "2099-03-18T23:59:59Z"


async def test_an_expired_posting_is_stored_with_a_warning(agency: Agency) -> None:
    r = await agency.client.post(
        "/v1/postings",
        json=posting_body("P-OLD", valid_through="2020-01-31T00:00:00Z"),
        headers=agency.auth("portal"),
    )
    assert r.status_code == 201
    assert [(w["field"], w["code"]) for w in r.json()["warnings"]] == [
        ("body.valid_through", "already_expired")
    ]
    r = await agency.client.post(
        "/v1/postings", json=posting_body("P-NEW"), headers=agency.auth("portal")
    )
    assert r.json()["warnings"] == []


async def test_an_isco_code_before_the_occupation_text_is_parsed(agency: Agency) -> None:
    r = await _post_jsonld(
        agency, _jsonld(identifier="JL-ISCO", occupationalCategory="2221 Nursing professionals")
    )
    assert r.json()["occupation"] == {
        "title": "Nursing professionals",
        "isco08": "2221",
        "esco_uri": None,
    }
    r = await _post_jsonld(agency, _jsonld(identifier="JL-TXT", occupationalCategory="Nurse"))
    assert r.json()["occupation"]["title"] == "Nurse" and r.json()["occupation"]["isco08"] is None


async def test_html_in_a_description_is_embedded_as_its_text(agency: Agency, pool: Any) -> None:
    text = "Care for patients on a surgical ward.\nNight shifts."
    markup = (
        "<div><p>Care for <b>patients</b> on a surgical ward.</p>"
        "<ul><li>Night shifts.</li></ul></div>"
    )
    ids = []
    for ext, description in (("P-TXT", text), ("P-HTML", markup)):
        r = await agency.client.post(
            "/v1/postings",
            json=posting_body(ext, description=description),
            headers=agency.auth("portal"),
        )
        assert r.json()["description"] == description  # stored and shown as sent
        ids.append(r.json()["id"])
    async with pool.acquire() as conn:
        cosine = await conn.fetchval(
            "SELECT 1 - (a.embedding <=> b.embedding) "
            "FROM posting_embedding a, posting_embedding b "
            "WHERE a.posting_id = $1::uuid AND b.posting_id = $2::uuid",
            *ids,
        )
    assert cosine > 0.995, cosine
