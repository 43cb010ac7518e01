"""If-Match as RFC 9110 specifies it, and PUT and PATCH alike under concurrency: without
If-Match both are last-writer-wins (a PATCH merges into what the previous writer stored)."""

from __future__ import annotations

import asyncio

from tests.factories import Agency, posting_body, seeker_body


async def test_if_match_uses_strong_comparison_lists_and_star(agency: Agency) -> None:
    c, h = agency.client, agency.auth("portal")
    r = await c.post("/v1/seekers", json=seeker_body("IM-1"), headers=h)
    sid = r.json()["id"]
    assert r.headers["etag"] == '"1"'

    async def patch(if_match: str) -> int:
        r = await c.patch(
            f"/v1/seekers/{sid}", json={"headline": if_match}, headers={**h, "If-Match": if_match}
        )
        return r.status_code

    assert await patch('W/"1"') == 412  # weak tags never match If-Match
    assert await patch('W/"1", W/"2"') == 412
    assert await patch('"7", "1"') == 200  # one of a list: now version 2
    assert await patch('"1"') == 412
    assert await patch(' "9" ,"2" ') == 200  # now 3
    assert await patch("*") == 200  # now 4
    assert await patch('"x", W/"4"') == 412
    r = await c.get(f"/v1/seekers/{sid}", headers=h)
    assert r.headers["etag"] == '"4"' and r.json()["headline"] == "*"
    r = await c.put(
        f"/v1/seekers/{sid}", json=seeker_body("IM-1"), headers={**h, "If-Match": 'W/"4"'}
    )
    assert r.status_code == 412
    r = await c.put(
        f"/v1/seekers/{sid}", json=seeker_body("IM-1"), headers={**h, "If-Match": '"3", "4"'}
    )
    assert r.status_code == 200 and r.headers["etag"] == '"5"'


async def test_twenty_concurrent_edits_without_if_match_all_succeed_and_lose_nothing(
    agency: Agency,
) -> None:
    c, h = agency.client, agency.auth("portal")
    sid = (await c.post("/v1/seekers", json=seeker_body("CC-1"), headers=h)).json()["id"]
    # Ten patches of the headline and ten of the summary at once: each is merged into what the
    # previous writer stored, so the last headline and the last summary both survive.
    patches = [{"headline": f"headline {i}"} for i in range(10)]
    patches += [{"summary": f"summary {i}"} for i in range(10)]
    results = await asyncio.gather(
        *[c.patch(f"/v1/seekers/{sid}", json=p, headers=h) for p in patches]
    )
    assert [r.status_code for r in results] == [200] * 20, [r.text for r in results][:3]
    final = await c.get(f"/v1/seekers/{sid}", headers=h)
    assert final.headers["etag"] == '"21"'
    by_version = {int(r.headers["etag"].strip('"')): r.json() for r in results}
    assert sorted(by_version) == list(range(2, 22))  # one version each, none lost
    assert final.json()["headline"] == by_version[21]["headline"]
    assert final.json()["summary"] == by_version[21]["summary"]
    assert final.json()["headline"].startswith("headline ")  # no patch undid another's field
    assert final.json()["summary"].startswith("summary ")
    # and PUT alike: twenty at once, all succeed
    results = await asyncio.gather(
        *[
            c.put(f"/v1/seekers/{sid}", json=seeker_body("CC-1", headline=f"put {i}"), headers=h)
            for i in range(20)
        ]
    )
    assert [r.status_code for r in results] == [200] * 20
    final = await c.get(f"/v1/seekers/{sid}", headers=h)
    assert final.headers["etag"] == '"41"'


async def test_external_ids_are_nfc_and_refuse_invisible_characters(agency: Agency) -> None:
    c, h = agency.client, agency.auth("portal")
    composed, decomposed = "caf\u00e9-7", "cafe\u0301-7"
    r = await c.post("/v1/seekers", json=seeker_body(composed), headers=h)
    assert r.status_code == 201 and r.json()["external_id"] == composed
    r = await c.post("/v1/seekers", json=seeker_body(decomposed), headers=h)
    assert r.status_code == 409  # the same id
    r = await c.get("/v1/seekers", params={"external_id": decomposed}, headers=h)
    assert [s["external_id"] for s in r.json()["items"]] == [composed]
    r = await c.post("/v1/seekers:bulk", json=[seeker_body(decomposed)], headers=h)
    assert (r.json()["created"], r.json()["failed"]) == (0, 1)
    for bad in ("a\u200bb", "a\u0085b", "a\x7fb", "a\u202eb", "a\u2066b", "a\u00a0b", "a\ufeffb"):
        for path in ("/v1/seekers", "/v1/postings"):
            body = seeker_body(bad) if path == "/v1/seekers" else posting_body(bad)
            r = await c.post(path, json=body, headers=h)
            assert r.status_code == 422, (bad, r.status_code)
            assert [e["field"] for e in r.json()["errors"]] == ["body.external_id"], r.json()
    r = await c.post("/v1/seekers:bulk", json=[seeker_body("ok\u202e")], headers=h)
    assert r.json()["errors"][0]["errors"][0]["field"] == "external_id"
    assert (await c.post("/v1/seekers", json=seeker_body("A B-1"), headers=h)).status_code == 201
