"""The audit pack on demo data after simulated feedback: its impact ratios are those computed
directly from the stored decisions and outcomes; the HTML renders in real Chromium with no
outside request; the CLI writes the same offline."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from seed.demo_feedback import record_simulated_feedback
from seed.generate import generate_postings, generate_seekers
from service import cli
from service.auth.permissions import Principal, Role
from service.config import get_settings
from tests.factories import Agency, make_agency

ATTRIBUTES = ("gender", "age_band", "disability", "migrant_background")


@pytest.fixture(scope="module")
async def demo(app: Any, pool: asyncpg.Pool) -> Any:
    """Demo seekers and postings, 12 candidate lists with simulated feedback by three
    simulated caseworkers, and two overrides through the API by a named person."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        agency = await make_agency(app, pool, c)
        for kind, rows in (("postings", generate_postings(40)), ("seekers", generate_seekers(160))):
            r = await c.post(f"/v1/{kind}:bulk", json=rows, headers=agency.auth("portal"))
            assert r.json()["failed"] == 0
        cw = agency.auth("caseworker")
        postings = (await c.get("/v1/postings", params={"limit": 200}, headers=cw)).json()["items"]
        postings.sort(key=lambda p: p["external_id"])
        list_ids: list[UUID] = []
        for p in postings:
            r = await c.get(f"/v1/postings/{p['id']}/matches", params={"limit": 15}, headers=cw)
            if r.status_code == 200 and len(r.json()["items"]) >= 10:
                list_ids.append(UUID(r.json()["id"]))
            if len(list_ids) == 12:
                break
        principal = Principal(key_id=UUID(int=0), agency_id=UUID(agency.id), role=Role.caseworker)
        assert await record_simulated_feedback(app.state.jobmatch, principal, list_ids) > 100
        for rank, new_rank in ((9, 2), (2, 7)):
            r = await c.post(
                f"/v1/match-lists/{list_ids[0]}/decisions",
                json={
                    "decisions": [
                        {"rank": rank, "action": "override", "new_rank": new_rank, "note": "why"}
                    ]
                },
                headers={**cw, "Acting-Person": "cw-override"},
            )
            assert r.status_code == 201
        yield agency


async def _direct_ratios(
    pool: asyncpg.Pool, agency_id: str, attribute: str, selection_sql: str
) -> dict[str, tuple[int, int, float | None]]:
    """(selected, total, impact ratio) per group, straight from the tables: candidates shown
    in the agency's candidate lists, consenting seekers only; the LL144 2 % rule applied."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT p.{attribute}::text AS g, count(*) AS total, "
            f"count(*) FILTER (WHERE {selection_sql}) AS selected "
            "FROM match_item i JOIN match_list l ON l.id = i.match_list_id "
            "JOIN seeker_protected p ON p.seeker_id = i.seeker_id AND p.consent "
            f"WHERE l.agency_id = $1 AND l.kind = 'seekers_for_posting' AND p.{attribute} "
            "IS NOT NULL GROUP BY 1",
            UUID(agency_id),
        )
    grand = sum(r["total"] for r in rows)
    kept = {r["g"]: (r["selected"], r["total"]) for r in rows if r["total"] / grand >= 0.02}
    best = max(s / t for s, t in kept.values())
    return {g: (s, t, (s / t) / best if best else None) for g, (s, t) in kept.items()}


SELECTIONS = {
    "shortlisting": "EXISTS (SELECT 1 FROM decision d WHERE d.match_list_id = i.match_list_id "
    "AND d.rank = i.rank AND d.action = 'shortlist')",
    "contact": "EXISTS (SELECT 1 FROM decision d WHERE d.match_list_id = i.match_list_id "
    "AND d.rank = i.rank AND d.action = 'contact')",
    "hire": "EXISTS (SELECT 1 FROM outcome o WHERE o.seeker_id = i.seeker_id "
    "AND o.posting_id = i.posting_id AND o.outcome = 'hired')",
}


async def _pack(agency: Agency, **headers: str) -> httpx.Response:
    return await agency.client.get(
        "/v1/reports/audit-pack",
        params={"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"},
        headers={**agency.auth("auditor"), **headers},
    )


async def test_impact_ratios_equal_a_direct_computation(demo: Agency, pool: asyncpg.Pool) -> None:
    r = await _pack(demo)
    assert r.status_code == 200, r.text
    pack = r.json()
    bias = pack["bias_report"]
    compared = 0
    for name, sql in SELECTIONS.items():
        for attribute in ATTRIBUTES:
            direct = await _direct_ratios(pool, demo.id, attribute, sql)
            reported = bias[name]["by_attribute"][attribute]
            assert set(reported["ratios"]) == set(direct), (name, attribute)
            for group, (selected, total, ratio) in direct.items():
                assert reported["selected"][group] == selected
                assert reported["totals"][group] == total
                assert reported["ratios"][group] == pytest.approx(ratio)
                p = reported["significance"]["p_values"][group]
                assert p is None or 0.0 <= p <= 1.0
                compared += 1
    assert compared >= 20
    assert sum(bias["hire"]["by_attribute"]["gender"]["selected"].values()) > 0
    # the ranking figures exist for each attribute the lists were measured on
    assert bias["ranking"]["gender"]["lists"] >= 12
    assert 0.0 <= bias["ranking"]["gender"]["mean_exposure_ratio"] <= 1.0
    # human oversight: the overrides, their direction, and the people (pseudonymised)
    o = pack["human_oversight"]
    assert o["lists_reviewed"] == 12 and o["overrides_up"] == 1 and o["overrides_down"] == 1
    assert len(o["by_person"]) == 4
    assert not any("demo-caseworker" in p or "cw-override" in p for p in o["by_person"])
    assert all(
        v["rank_order_agreement"] is None or 0.0 <= v["rank_order_agreement"] <= 1.0
        for v in o["by_person"].values()
    )
    # model card of the default scorer, a data card, instructions from the live configuration
    assert [c["version"] for c in pack["model_cards"]] == ["default"]
    assert pack["data_card"]["seekers"] == 160 and 0.5 < pack["data_card"]["consent_rate"] < 1
    text = json.dumps(pack["instructions_for_use"])
    assert "default" in text and "400" in text  # the live model and the audit retention
    # no capacity policy yet: the section says so, and no job list for a seeker was made
    capacity = pack["capacity"]
    assert capacity["policies_in_force"] == [] and capacity["rebalances"] == []
    assert capacity["market"]["lists"] == 0 and capacity["market"]["active_postings"] == 40


async def test_only_admins_and_auditors_get_the_pack(demo: Agency) -> None:
    for role, status in (("admin", 200), ("caseworker", 403), ("portal", 403)):
        r = await demo.client.get("/v1/reports/audit-pack", headers=demo.auth(role))
        assert r.status_code == status, role
    r = await demo.client.get(
        "/v1/reports/audit-pack",
        params={"from": "2030-01-01T00:00:00Z", "to": "2020-01-01T00:00:00Z"},
        headers=demo.auth("auditor"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.from"


async def test_the_html_pack_renders_in_chromium_with_no_outside_request(
    demo: Agency, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    r = await _pack(demo, Accept="text/html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page_html = r.text
    assert "<svg" in page_html and "http://" not in page_html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    requested: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=shutil.which("chromium"))
        try:
            page = await browser.new_page()
            page.on("request", lambda req: requested.append(req.url))
            await page.set_content(page_html, wait_until="load")
            charts = await page.locator("svg").count()
            headings = await page.locator("h2").all_inner_texts()
            shot = tmp_path / "audit-pack.png"
            await page.screenshot(path=str(shot), full_page=True)
            await page.pdf(path=str(tmp_path / "audit-pack.pdf"))  # printable
        finally:
            await browser.close()
    assert [u for u in requested if not u.startswith(("about:", "data:"))] == []
    assert charts >= 5
    assert headings == [
        "Model cards",
        "Data card",
        "Bias report",
        "Human oversight",
        "Capacity",
        "Instructions for use",
    ]
    assert shot.stat().st_size > 20_000


async def test_the_cli_writes_the_same_pack_offline(
    demo: Agency,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOBMATCH_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        await asyncio.to_thread(
            cli.main,
            [
                "report",
                "audit-pack",
                "--agency",
                demo.name,
                "--from",
                "2000-01-01T00:00:00Z",
                "--to",
                "2100-01-01T00:00:00Z",
                "--out",
                str(tmp_path),
            ],
        )
    finally:
        get_settings.cache_clear()
    offline = json.loads((tmp_path / "audit-pack.json").read_text())
    online = (await _pack(demo)).json()
    for section in ("bias_report", "human_oversight", "model_cards", "data_card"):
        assert offline[section] == online[section], section
    html = (tmp_path / "audit-pack.html").read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html


async def test_the_capacity_section_shows_the_policy_the_rebalance_and_the_market(
    demo: Agency,
) -> None:
    """Last in this module: it adds job lists for seekers and a capacity policy."""
    c, admin, cw = demo.client, demo.auth("admin"), demo.auth("caseworker")
    r = await c.put(
        "/v1/capacity-policy",
        json={"method": "balanced", "relevance_floor": 0.2, "reason": "spread the market"},
        headers=admin,
    )
    assert r.status_code == 200
    version = r.json()["version"]
    seekers = (await c.get("/v1/seekers", params={"limit": 8}, headers=cw)).json()["items"]
    for s in seekers[:4]:
        assert (await c.get(f"/v1/seekers/{s['id']}/matches", headers=cw)).status_code == 200
    job = (await c.post("/v1/capacity-policy:rebalance", headers=admin)).json()
    for _ in range(600):
        job = (await c.get(f"/v1/jobs/{job['id']}", headers=admin)).json()
        if job["status"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "succeeded", job
    for s in seekers[4:]:
        assert (await c.get(f"/v1/seekers/{s['id']}/matches", headers=cw)).status_code == 200

    pack = (await _pack(demo)).json()["capacity"]
    [policy] = pack["policies_in_force"]
    assert policy["version"] == version and policy["method"] == "balanced"
    assert policy["relevance_floor"] == 0.2 and policy["reason"] == "spread the market"
    [run] = pack["rebalances"]
    assert run["price_version"] == job["result"]["price_version"]
    assert run["policy_version"] == version and run["seekers"] == 4
    assert run["postings"] == job["result"]["postings"] > 0
    # the market figures are the market report's for the same period
    market = (
        await c.get(
            "/v1/reports/market",
            params={"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "limit": 20},
            headers=demo.auth("auditor"),
        )
    ).json()
    for key in (
        "lists",
        "gini_exposure",
        "share_never_recommended",
        "congestion_at_10",
        "coverage_at_10",
        "mean_relevance_given_up",
        "active_postings",
    ):
        assert pack["market"][key] == pytest.approx(market[key]), key
    assert pack["market"]["lists"] == 8 and 0 < pack["market"]["gini_exposure"] < 1
    assert [p["posting_id"] for p in pack["market"]["most_exposed_postings"]] == [
        p["posting_id"] for p in market["postings"]
    ]
    assert len(pack["market"]["trend"]) == len(market["trend"]) >= 1

    html = (await _pack(demo, Accept="text/html")).text
    section = html[html.index("<h2>Capacity</h2>") : html.index("<h2>Instructions for use")]
    assert "spread the market" in section and "balanced" in section
    assert f'<td class="n">{run["price_version"]}</td>' in section
    assert f"{market['gini_exposure']:.3f}" in section
