"""The caseworker console in a real browser: Debian's Chromium driven by Playwright against the
app served by uvicorn on a loopback port (the session's embedded PostgreSQL, the real model).

A day's review (sign in, queue, a list, shortlist / reject / override, what would change, sign
out), the same with the keyboard alone, Chinese, axe-core on every page in its normal, empty and
error states, and the security of sessions and forms.

With JOBMATCH_SCREENSHOTS=<folder> the flows also write PNG screenshots of the main pages there
(README, "Console").
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
import uvicorn
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.factories import ROOT, Agency, posting_body, seeker_body

CHROMIUM = shutil.which("chromium")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
REQUIRED = [{"name": "operate forklift"}, {"name": "load cargo"}, {"name": "stock control"}]
SCREENSHOTS = os.environ.get("JOBMATCH_SCREENSHOTS")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(settings: Any, embedder: Any) -> Iterator[str]:
    """The app served by uvicorn on loopback, in a thread of this process (one per module)."""
    from service.app import create_app

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, embedder=embedder),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive(), "the server stopped during start-up"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=60)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM, "chromium is not installed (.ci/run installs it)"
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        await b.close()


@pytest.fixture
async def context(browser: Browser, base_url: str) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(
        base_url=base_url, locale="en-GB", viewport={"width": 1280, "height": 900}
    )
    yield ctx
    await ctx.close()


FAIR_POLICY = {
    "method": "fa_ir",
    "attributes": ["gender"],
    "protected_groups": ["female"],
    "p": 0.5,
    "alpha": 0.1,
    "reason": "equal access",
}


async def _reviewable(
    agency: Agency, candidates: int = 6, *, fair: bool = False
) -> tuple[str, str, str]:
    """A posting with `candidates` seekers and its candidate list: (posting id, list id, title);
    `fair`: made under a FA*IR policy on gender."""
    c, h = agency.client, agency.auth("portal")
    if fair:
        r = await c.put("/v1/fairness-policy", json=FAIR_POLICY, headers=agency.auth("admin"))
        assert r.status_code == 200, r.text
    title = f"Forklift driver {uuid4().hex[:6]}"
    posting = posting_body(skills_required=REQUIRED, experience_years_min=5, title=title)
    pid = (await c.post("/v1/postings", json=posting, headers=h)).json()["id"]
    rows = [
        seeker_body(
            f"S-{i:02d}",
            skills=REQUIRED[: 1 + i % 3],
            experience_years=2 + i,
            protected={"consent": True, "gender": "female" if i % 2 else "male"},
        )
        for i in range(candidates)
    ]
    r = await c.post("/v1/seekers:bulk", json=rows, headers=h)
    assert r.json()["created"] == candidates, r.text
    r = await c.get(
        f"/v1/postings/{pid}/matches",
        params={"limit": candidates},
        headers=agency.auth("caseworker"),
    )
    assert r.status_code == 200, r.text
    return pid, r.json()["id"], title


async def _sign_in(page: Page, key: str, person: str) -> None:
    await page.goto("/console/sign-in")
    await page.get_by_label("API key").fill(key)
    await page.get_by_label("Your name or staff id").fill(person)
    await page.get_by_role("button", name="Sign in").click()


async def _shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        folder = ROOT / SCREENSHOTS if not Path(SCREENSHOTS).is_absolute() else Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(folder / f"{name}.png"))


def _item(page: Page, rank: int) -> Any:
    return page.locator(f"#item-{rank}")


async def test_a_caseworkers_review_in_the_browser_matches_the_api(
    context: BrowserContext, agency: Agency
) -> None:
    _, lid, title = await _reviewable(agency, fair=True)
    page = await context.new_page()
    await _sign_in(page, agency.keys["caseworker"], "Ana Ruiz (staff 4711)")
    await expect(page).to_have_url(re.compile(r"/console/queue$"))
    await expect(page.get_by_test_id("person")).to_contain_text("Ana Ruiz (staff 4711)")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    await _shot(page, "queue")

    await page.get_by_role("link", name=title).click()
    await expect(page).to_have_url(re.compile(f"/console/lists/{lid}$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Candidates for {title}")
    await expect(page.locator("#final-order tbody tr")).to_have_count(6)
    fairness = page.locator("section", has=page.get_by_role("heading", name="Fairness"))
    await expect(fairness).to_contain_text("Policy applied: fa_ir on gender, top 6 of 6.")
    await expect(fairness.get_by_role("row", name=re.compile("^protected"))).to_be_visible()
    await expect(fairness).to_contain_text("The re-ranking moved")
    await expect(_item(page, 1)).to_contain_text("Top factors")
    await expect(_item(page, 1)).to_contain_text("Score: ")
    await _shot(page, "list")

    await _item(page, 1).get_by_role("button", name="Shortlist").click()
    await expect(page.locator("#notice")).to_have_text("Decision recorded: Shortlist for rank 1.")
    await expect(page.get_by_test_id("history-1")).to_contain_text("shortlisted")

    await _item(page, 3).get_by_label("Reason").select_option("distance")
    await _item(page, 3).get_by_label("Note (optional)").fill("No car")
    await _item(page, 3).get_by_role("button", name="Reject").click()
    await expect(page.get_by_test_id("history-3")).to_contain_text("rejected (Distance)")

    # an override without a note is refused, said at once and announced, nothing stored
    await _item(page, 5).get_by_label("New rank").fill("1")
    await _item(page, 5).get_by_role("button", name="Override rank").click()
    await expect(page.get_by_role("alert")).to_contain_text("An override needs a note")
    await expect(_item(page, 5).get_by_label("Why (required)")).to_have_attribute(
        "aria-invalid", "true"
    )
    await _shot(page, "list-error")
    await _item(page, 5).get_by_label("Why (required)").fill("Knows the warehouse")
    await _item(page, 5).get_by_role("button", name="Override rank").click()
    await expect(page.get_by_test_id("history-5")).to_contain_text("moved to rank 1")
    # the final order shows at once: rank 5 first, then 1, 2, 3, 4, 6
    stored_ranks = await page.locator("#final-order tbody tr td:nth-child(2)").all_inner_texts()
    assert stored_ranks == ["5", "1", "2", "3", "4", "6"]

    # the API reports the same decisions
    r = await agency.client.get(f"/v1/match-lists/{lid}", headers=agency.auth("caseworker"))
    by_rank = {i["rank"]: i for i in r.json()["items"]}
    assert [d["action"] for d in by_rank[1]["decisions"]] == ["shortlist"]
    assert by_rank[3]["decisions"][0]["reason_code"] == "distance"
    assert by_rank[3]["decisions"][0]["note"] == "No car"
    assert by_rank[5]["decisions"][0]["new_rank"] == 1
    assert by_rank[5]["decisions"][0]["note"] == "Knows the warehouse"
    assert by_rank[5]["final_rank"] == 1 and by_rank[1]["final_rank"] == 2
    assert not by_rank[2]["decisions"]
    # all made with the caseworker's key, by the person who signed in
    assert len({d["created_by"] for i in by_rank.values() for d in i["decisions"]}) == 1
    people = {d["acted_by"] for i in by_rank.values() for d in i["decisions"]}
    assert people == {"Ana Ruiz (staff 4711)"}

    await _item(page, 2).get_by_role("link", name="What would change the result").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("What would change the result")
    await expect(page.locator("main")).to_contain_text("Now: score ")
    suggestions = await page.locator(".suggestions li").all_inner_texts()
    assert suggestions and all(s.startswith("If the seeker") for s in suggestions), suggestions
    await _shot(page, "what-would-change")
    await page.get_by_role("link", name="Back to the list").click()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_have_text("You have signed out.")
    await _shot(page, "sign-in")
    await page.goto(f"/console/lists/{lid}")
    await expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))


async def _tab_to(page: Page, selector: str, limit: int = 300) -> None:
    """Press Tab until `selector` has the focus (it must be reachable by keyboard), and check
    the focus is visible there."""
    await page.wait_for_load_state()
    for _ in range(limit):
        if await page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            outline = await page.evaluate(
                "() => getComputedStyle(document.activeElement).outlineStyle"
            )
            assert outline not in ("", "none"), f"no visible focus on {selector}"
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{selector} was not reached with Tab")


async def test_the_same_review_with_the_keyboard_alone(
    context: BrowserContext, agency: Agency
) -> None:
    _, lid, title = await _reviewable(agency, candidates=5)
    page = await context.new_page()
    await page.goto("/console/sign-in")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip-link"
    await _tab_to(page, "#api_key")
    await page.keyboard.type(agency.keys["caseworker"])
    await _tab_to(page, "#person")
    await page.keyboard.type("K. Board")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/console/queue$"))

    await _tab_to(page, f'a[href="/console/lists/{lid}"]')
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Candidates for {title}")

    await _tab_to(page, "#shortlist-1")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("history-1")).to_contain_text("shortlisted")

    await _tab_to(page, "#reason-2")
    await page.keyboard.type("Skills")  # type-ahead picks "Skills gap"
    await _tab_to(page, "#reject-2")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("history-2")).to_contain_text("rejected (Skills gap)")

    await _tab_to(page, "#new-rank-4")
    await page.keyboard.type("1")
    await _tab_to(page, "#override-note-4")
    await page.keyboard.type("Asked for by the employer")
    await _tab_to(page, "#override-4")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("history-4")).to_contain_text("moved to rank 1")

    await _tab_to(page, 'a[href$="/items/3/what-would-change"]')
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_contain_text("Now: score ")
    await _tab_to(page, "main a")
    await page.keyboard.press("Enter")
    await expect(page.locator("#final-order")).to_be_visible()

    r = await agency.client.get(f"/v1/match-lists/{lid}", headers=agency.auth("caseworker"))
    actions = {i["rank"]: [d["action"] for d in i["decisions"]] for i in r.json()["items"]}
    assert actions == {1: ["shortlist"], 2: ["reject"], 3: [], 4: ["override"], 5: []}

    await _tab_to(page, "header button")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("You have signed out.")


async def test_chinese_from_the_browser_and_from_the_switch(
    browser: Browser, base_url: str, agency: Agency
) -> None:
    _, _, title = await _reviewable(agency, candidates=3)
    ctx = await browser.new_context(base_url=base_url, locale="zh-CN")
    page = await ctx.new_page()
    await page.goto("/console/sign-in")
    assert await page.get_attribute("html", "lang") == "zh-Hans"
    await expect(page.get_by_role("heading", level=1)).to_have_text("登录")
    await page.get_by_label("API 密钥").fill(agency.keys["caseworker"])
    await page.get_by_label("您的姓名或工号").fill("李明")
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("待审队列")
    await expect(page.get_by_test_id("person")).to_have_text("当前用户：李明（个案顾问）")
    produced = await page.locator("table time").first.inner_text()
    assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d UTC", produced), produced
    await page.get_by_role("link", name=title).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"{title} 的候选人")
    await expect(page.locator("#item-1")).to_contain_text("主要因素")
    await _shot(page, "list-zh")
    # the switch: English from now on, whatever the browser asks for
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Candidates for {title}")
    await page.goto("/console/queue")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    await ctx.close()


async def _axe(page: Page, what: str) -> None:
    results = await Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    violations = results.response["violations"]
    assert results.response["passes"], f"axe checked nothing on {what}"
    assert violations == [], (what, [(v["id"], v["help"], v["nodes"][:2]) for v in violations])


async def test_every_page_has_no_axe_violations_in_normal_empty_and_error_states(
    browser: Browser, base_url: str, agency: Agency
) -> None:
    checked = 0
    # before any policy or model: the admin pages' empty states
    ctx = await browser.new_context(base_url=base_url, bypass_csp=True)
    page = await ctx.new_page()
    await _sign_in(page, agency.keys["admin"], "Admin Person")
    for url in ("/console/admin/fairness", "/console/admin/models", "/console/admin/ranking"):
        await page.goto(url)
        await _axe(page, f"{url}, empty")
        checked += 1
    await ctx.close()
    pid, lid, _ = await _reviewable(agency, candidates=4, fair=True)
    r = await agency.client.get(f"/v1/match-lists/{lid}", headers=agency.auth("caseworker"))
    seeker_id = r.json()["items"][0]["seeker_id"]
    for lang in ("en-GB", "zh-CN"):
        # bypass_csp: axe is injected as a script, which the console's policy forbids
        ctx = await browser.new_context(base_url=base_url, locale=lang, bypass_csp=True)
        page = await ctx.new_page()
        await page.goto("/console/sign-in")
        await _axe(page, "sign-in")
        await page.goto("/console/accessibility")
        await _axe(page, "accessibility statement, signed out")
        await page.goto("/console/sign-in")
        await page.locator("#api_key").fill("jm_00000000_wrong")
        await page.locator("#person").fill("Someone")
        await page.locator("form.stack button").click()
        await expect(page.get_by_role("alert")).to_be_visible()
        await _axe(page, "sign-in error")
        await page.locator("#api_key").fill(agency.keys["caseworker"])
        await page.locator("#person").fill("Axe Tester")
        await page.locator("form.stack button").click()
        await expect(page).to_have_url(re.compile(r"/console/queue$"))
        pages = [
            ("/console/queue", "queue"),
            (f"/console/queue?posting={uuid4()}", "queue, empty"),
            ("/console/queue?posting=not-an-id&from=yesterday", "queue, error"),
            (f"/console/lists/{lid}", "list"),
            (f"/console/lists/{lid}/items/1/what-would-change", "what would change"),
            (f"/console/seekers/{seeker_id}", "seeker"),
            (f"/console/postings/{pid}", "posting"),
            (f"/console/lists/{uuid4()}", "not found"),
            ("/console/audit", "forbidden"),
            ("/console/accessibility", "accessibility statement"),
        ]
        for url, what in pages:
            await page.goto(url)
            await _axe(page, f"{what} ({lang})")
            checked += 1
        # a decision form in its error state
        await page.goto(f"/console/lists/{lid}")
        await page.locator("#new-rank-2").fill("1")
        await page.locator("#override-2").click()
        await expect(page.get_by_role("alert")).to_be_visible()
        await _axe(page, f"list, decision error ({lang})")
        await page.locator("header button").click()

        await page.goto("/console/sign-in")
        await page.locator("#api_key").fill(agency.keys["auditor"])
        await page.locator("#person").fill("Audit Person")
        await page.locator("form.stack button").click()
        for url, what in [
            ("/console/audit", "audit"),
            (f"/console/audit?subject={uuid4()}", "audit, empty"),
            ("/console/audit?subject=nope", "audit, error"),
            ("/console/admin/fairness", "fairness policy"),
        ]:
            await page.goto(url)
            await _axe(page, f"{what} ({lang})")
            checked += 1
        if lang == "en-GB":
            await _shot(page, "audit")
        await page.locator("header button").click()

        await page.goto("/console/sign-in")
        await page.locator("#api_key").fill(agency.keys["admin"])
        await page.locator("#person").fill("Admin Person")
        await page.locator("form.stack button").click()
        for url, what in [
            ("/console/admin/fairness", "fairness policy"),
            ("/console/admin/models", "models"),
        ]:
            await page.goto(url)
            await _axe(page, f"{what} ({lang})")
            checked += 1
        await ctx.close()
    assert checked == 3 + 2 * 16


async def test_an_admin_stops_automated_ranking_and_new_lists_say_so(
    browser: Browser, base_url: str, agency: Agency
) -> None:
    pid, lid, _ = await _reviewable(agency, candidates=3)
    ctx = await browser.new_context(base_url=base_url, bypass_csp=True)
    page = await ctx.new_page()
    await _sign_in(page, agency.keys["admin"], "Admin Person")
    await page.get_by_role("link", name="Automated ranking").click()
    await expect(page.locator("#agency-state")).to_have_text("Automated ranking is running.")
    await _axe(page, "ranking switch")
    # a posting that is not the agency's: refused, announced
    await page.get_by_label("Posting id").fill(str(uuid4()))
    await page.locator("#stop-posting").click()
    await expect(page.get_by_role("alert")).to_contain_text("no posting with this id")
    await _axe(page, "ranking switch, error")
    await page.get_by_label("Posting id").fill(pid)
    await page.locator("#stop-posting").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await expect(page.get_by_role("row", name=pid)).to_be_visible()
    await _shot(page, "automated-ranking")
    await page.locator("header button").click()

    r = await agency.client.get(
        f"/v1/postings/{pid}/matches", params={"limit": 3}, headers=agency.auth("caseworker")
    )
    assert r.json()["personalised"] is False
    await _sign_in(page, agency.keys["caseworker"], "Ana Ruiz")
    await page.goto(f"/console/lists/{r.json()['id']}")
    await expect(page.locator("#not-personalised")).to_contain_text("Non-personalised order")
    await _axe(page, "list, non-personalised")
    await page.goto(f"/console/lists/{lid}")  # made before: its order stands, no banner
    await expect(page.locator("#not-personalised")).to_have_count(0)
    await page.goto("/console/admin/ranking")  # caseworkers see the switch, cannot turn it
    await expect(page.get_by_role("row", name=pid)).to_be_visible()
    await expect(page.locator("#stop-posting")).to_have_count(0)
    await ctx.close()


async def test_sessions_and_forms_are_secure(
    browser: Browser,
    base_url: str,
    agency: Agency,
    other_agency: Agency,
    pool: asyncpg.Pool,
) -> None:
    _, lid, _ = await _reviewable(agency, candidates=3)
    _, foreign_lid, _ = await _reviewable(other_agency, candidates=3)
    ctx = await browser.new_context(base_url=base_url)
    page = await ctx.new_page()
    html: list[str] = []

    # a portal key cannot sign in, and gets no session
    await _sign_in(page, agency.keys["portal"], "Portal Person")
    await expect(page.get_by_role("alert")).to_contain_text("Portal keys cannot sign in")
    html.append(await page.content())
    assert not [c for c in await ctx.cookies() if c["name"] == "jobmatch_console"]

    await _sign_in(page, agency.keys["caseworker"], "Sec Person")
    await expect(page).to_have_url(re.compile(r"/console/queue$"))
    html.append(await page.content())
    cookie = next(c for c in await ctx.cookies() if c["name"] == "jobmatch_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    assert cookie["path"] == "/console"
    # only a hash of the token is stored
    digest = hashlib.sha256(cookie["value"].encode()).digest()
    async with pool.acquire() as conn:
        stored = await conn.fetch("SELECT token_hash, person FROM console_session")
    assert (digest, "Sec Person") in [(r["token_hash"], r["person"]) for r in stored]
    assert all(cookie["value"].encode() not in r["token_hash"] for r in stored)

    # another agency's list answers 404, like a missing one
    response = await page.goto(f"/console/lists/{foreign_lid}")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("alert")).to_contain_text("nothing with this address")
    html.append(await page.content())

    # a decision without the form's CSRF token is refused and nothing is stored
    await page.goto(f"/console/lists/{lid}")
    html.append(await page.content())
    posted = await page.request.post(
        f"/console/lists/{lid}/decisions",
        form={"rank": "1", "action": "shortlist"},
        max_redirects=0,
    )
    assert posted.status == 403
    posted = await page.request.post(
        f"/console/lists/{lid}/decisions",
        form={"rank": "1", "action": "shortlist", "csrf_token": "0" * 64},
        max_redirects=0,
    )
    assert posted.status == 403
    r = await agency.client.get(f"/v1/match-lists/{lid}", headers=agency.auth("caseworker"))
    assert all(not i["decisions"] for i in r.json()["items"])
    # ... and with it, accepted
    token = await page.locator('header input[name="csrf_token"]').get_attribute("value")
    posted = await page.request.post(
        f"/console/lists/{lid}/decisions",
        form={"rank": "1", "action": "shortlist", "csrf_token": token or ""},
        max_redirects=0,
    )
    assert posted.status == 303
    # sign-out needs the token too
    posted = await page.request.post("/console/sign-out", form={}, max_redirects=0)
    assert posted.status == 403

    # no key or session token in any page
    for text in html:
        for secret in [*agency.keys.values(), cookie["value"]]:
            assert secret not in text

    # headers: no framing, no outside script or style
    response = await page.goto("/console/queue")
    assert response is not None
    headers = await response.all_headers()
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"

    # an expired session sends the person back to sign in
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE console_session SET expires_at = now() - interval '1 second' "
            "WHERE token_hash = $1",
            digest,
        )
    await page.goto("/console/queue")
    await expect(page).to_have_url(re.compile(r"/console/sign-in\?next=%2Fconsole%2Fqueue$"))
    await ctx.close()


async def test_over_https_the_cookie_is_secure(app: Any, agency: Agency) -> None:
    """Behind TLS (the request's scheme is https) the session cookie is Secure as well."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://console.test") as c:
        form = await c.get("/console/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        r = await c.post(
            "/console/sign-in",
            data={
                "csrf_token": token.group(1),
                "api_key": agency.keys["caseworker"],
                "person": "TLS Person",
            },
        )
        assert r.status_code == 303, r.text
        set_cookie = next(
            v for v in r.headers.get_list("set-cookie") if v.startswith("jobmatch_console=")
        )
        assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie
        assert "Secure" in set_cookie and "Path=/console" in set_cookie
        # sign-in without the form's token is refused
        c.cookies.clear()
        r = await c.post(
            "/console/sign-in",
            data={"api_key": agency.keys["caseworker"], "person": "TLS Person"},
        )
        assert r.status_code == 403
        assert agency.keys["caseworker"] not in r.text

    # behind a TLS-terminating proxy that says so, too
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
        form = await c.get("/console/sign-in", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in form.headers["set-cookie"]
        form = await c.get("/console/sign-in")
        assert "Secure" not in form.headers["set-cookie"]


def test_the_console_loads_nothing_from_outside() -> None:
    """Templates and styles name no other host: every asset is served from the package."""
    folder = ROOT / "service" / "console"
    for path in [*folder.glob("templates/*.html"), *folder.glob("static/*")]:
        text = path.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path
        assert "url(http" not in text and "@import" not in text, path


async def test_the_market_report_in_the_console_matches_the_api(
    browser: Browser, base_url: str, agency: Agency
) -> None:
    """Auditors and admins read the market report: the figures and the pages of postings are
    the API's for the same days; normal, next page, empty and error states pass axe, in
    English and Chinese; caseworkers are refused."""
    c, portal = agency.client, agency.auth("portal")
    postings = [
        posting_body(
            f"M-{i:02d}", title=f"Forklift driver {i}", skills_required=REQUIRED[: 1 + i % 3]
        )
        for i in range(25)
    ]
    assert (await c.post("/v1/postings:bulk", json=postings, headers=portal)).json()["failed"] == 0
    rows = [seeker_body(f"MS-{i}", skills=REQUIRED[: 1 + i % 3]) for i in range(4)]
    assert (await c.post("/v1/seekers:bulk", json=rows, headers=portal)).json()["created"] == 4
    cw = agency.auth("caseworker")
    for s in (await c.get("/v1/seekers", params={"limit": 10}, headers=cw)).json()["items"]:
        r = await c.get(f"/v1/seekers/{s['id']}/matches", params={"limit": 10}, headers=cw)
        assert r.status_code == 200, r.text
    today = datetime.now(UTC).date()
    period = {"from": f"{today}T00:00:00Z", "to": f"{today + timedelta(days=1)}T00:00:00Z"}
    auditor = agency.auth("auditor")
    first = (
        await c.get("/v1/reports/market", params={**period, "limit": 20}, headers=auditor)
    ).json()
    second = (
        await c.get(
            "/v1/reports/market", params={**period, "limit": 20, "offset": 20}, headers=auditor
        )
    ).json()
    assert first["lists"] == 4 and first["postings_total"] == 25 and len(second["postings"]) == 5

    ctx = await browser.new_context(base_url=base_url, locale="en-GB", bypass_csp=True)
    page = await ctx.new_page()
    await _sign_in(page, agency.keys["auditor"], "Audit Person")
    await page.get_by_role("link", name="Job market").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Job market")
    await page.get_by_label("From (day)").fill(str(today))
    await page.get_by_label("To (day, included)").fill(str(today))
    await page.get_by_role("button", name="Apply filters").click()
    await expect(page.locator("#fig-gini")).to_have_text(f"{first['gini_exposure']:,.3f}")
    await expect(page.locator("#fig-lists")).to_have_text("4")
    await expect(page.locator("#fig-never")).to_have_text(
        f"{first['share_never_recommended'] * 100:.0f}%"
    )
    await expect(page.locator("#fig-coverage")).to_have_text(f"{first['coverage_at_10']:,.3f}")
    table = page.locator("#market-postings")
    await expect(table.locator("caption")).to_contain_text("1 to 20 of 25")
    shown = await table.locator("tbody th").all_inner_texts()
    assert shown == [p["external_id"] for p in first["postings"]]
    await expect(page.locator("#market-trend tbody tr")).to_have_count(len(first["trend"]))
    await _axe(page, "market")
    await _shot(page, "market")
    await page.get_by_role("link", name="Next page").click()
    shown = await page.locator("#market-postings tbody th").all_inner_texts()
    assert shown == [p["external_id"] for p in second["postings"]]
    await expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    await _axe(page, "market, second page")
    await page.goto("/console/market?from=2020-01-01&to=2020-01-31")
    await expect(page.get_by_role("status").first).to_contain_text("No job list")
    await _axe(page, "market, empty")
    response = await page.goto("/console/market?from=yesterday")
    assert response is not None and response.status == 422
    await expect(page.get_by_role("alert")).to_contain_text("From (day)")
    await expect(page.locator("#f-from")).to_have_attribute("aria-invalid", "true")
    await _axe(page, "market, error")
    response = await page.goto(f"/console/market?from={today}&to=2020-01-01")
    assert response is not None and response.status == 422
    await page.locator("header button").click()
    await _sign_in(page, agency.keys["caseworker"], "Ana Ruiz")
    await expect(page.get_by_role("link", name="Job market")).to_have_count(0)
    response = await page.goto("/console/market")
    assert response is not None and response.status == 403
    await ctx.close()

    ctx = await browser.new_context(base_url=base_url, locale="zh-CN", bypass_csp=True)
    page = await ctx.new_page()
    await page.goto("/console/sign-in")
    await page.locator("#api_key").fill(agency.keys["admin"])
    await page.locator("#person").fill("Admin Person")
    await page.locator("form.stack button").click()
    await page.goto(f"/console/market?from={today}&to={today}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("就业市场")
    await expect(page.locator("#fig-gini")).to_have_text(f"{first['gini_exposure']:,.3f}")
    await _axe(page, "market (zh)")
    await ctx.close()
