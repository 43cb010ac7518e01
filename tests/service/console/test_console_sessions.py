"""Console sessions without a browser: what sign-in refuses, what ends a session, where a
sign-in may send the person next, and what the audit log and the logs keep of it."""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import httpx
import pytest

from tests.factories import Agency


async def _sign_in(c: httpx.AsyncClient, key: str, person: str = "P. Erson", **form: str) -> Any:
    """The sign-in form as a browser posts it: its CSRF token and its `next` field."""
    page = await c.get("/console/sign-in", params={"next": form.get("next", "")})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    after = re.search(r'name="next" value="([^"]*)"', page.text)
    assert token is not None and after is not None
    return await c.post(
        "/console/sign-in",
        data={
            "csrf_token": token.group(1),
            "api_key": key,
            "person": person,
            "next": html.unescape(after.group(1)),
        },
    )


@pytest.fixture
async def browser_client(app: Any) -> Any:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
        yield c


async def test_unknown_and_portal_keys_and_blank_names_get_no_session(
    browser_client: httpx.AsyncClient, agency: Agency
) -> None:
    for key, person, status, words in (
        ("jm_00000000_nothing", "A", 401, "unknown or revoked"),
        (agency.keys["portal"], "A", 401, "Portal keys cannot sign in"),
        (agency.keys["caseworker"], "   ", 422, "Give your name or staff id"),
        (agency.keys["caseworker"], "x" * 201, 422, "Give your name or staff id"),
    ):
        r = await _sign_in(browser_client, key, person)
        assert r.status_code == status, (key[:6], r.status_code)
        assert words in r.text
        assert key not in r.text
        assert "jobmatch_console=" not in r.headers.get("set-cookie", "")


async def test_each_console_role_lands_on_its_first_page(
    browser_client: httpx.AsyncClient, agency: Agency
) -> None:
    someone = "/console/seekers/00000000-0000-4000-8000-000000000000"
    for role, home, forbidden in (
        ("caseworker", "/console/queue", "/console/admin/models"),
        # auditors oversee stored lists (issue 20), but not profiles unless the agency grants it
        ("auditor", "/console/queue", someone),
        ("admin", "/console/audit", "/console/queue"),
    ):
        browser_client.cookies.clear()
        r = await _sign_in(browser_client, agency.keys[role])
        assert r.status_code == 303 and r.headers["location"] == home, (role, r.headers)
        # a page the role may not see answers 403, as a page
        r = await browser_client.get(forbidden)
        assert r.status_code == 403 and "Your role may not see this page" in r.text


async def test_revoking_the_key_ends_its_sessions(
    browser_client: httpx.AsyncClient, agency: Agency
) -> None:
    created = await agency.client.post(
        "/v1/api-keys",
        json={"name": "temp", "role": "caseworker"},
        headers=agency.auth("admin"),
    )
    key, key_id = created.json()["secret"], created.json()["id"]
    assert (await _sign_in(browser_client, key)).status_code == 303
    assert (await browser_client.get("/console/queue")).status_code == 200
    r = await agency.client.delete(f"/v1/api-keys/{key_id}", headers=agency.auth("admin"))
    assert r.status_code == 204
    r = await browser_client.get("/console/queue")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in")


async def test_sign_in_sends_only_to_pages_of_the_console(
    browser_client: httpx.AsyncClient, agency: Agency
) -> None:
    for target, expected in (
        ("/console/audit?subject=x", "/console/audit?subject=x"),
        ("//evil.example/console/", "/console/queue"),
        ("https://evil.example/", "/console/queue"),
        ("/v1/seekers", "/console/queue"),
    ):
        browser_client.cookies.clear()
        r = await _sign_in(browser_client, agency.keys["caseworker"], next=target)
        assert r.headers["location"] == expected, target
    r = await browser_client.get(
        "/console/language", params={"to": "zh", "next": "https://evil.example/"}
    )
    assert r.headers["location"] == "/console"


async def test_sign_in_and_out_are_audited_with_the_person_and_no_key_or_name_is_logged(
    browser_client: httpx.AsyncClient, agency: Agency, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    name = "Sigrid Secret-Name"
    await _sign_in(browser_client, agency.keys["portal"], name)
    assert (await _sign_in(browser_client, agency.keys["caseworker"], name)).status_code == 303
    queue = await browser_client.get("/console/queue")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', queue.text)
    assert csrf is not None
    r = await browser_client.post("/console/sign-out", data={"csrf_token": csrf.group(1)})
    assert r.status_code == 303
    assert (await browser_client.get("/console/queue")).status_code == 303  # signed out
    events = await agency.client.get(
        "/v1/audit-events", params={"limit": 200}, headers=agency.auth("auditor")
    )
    actions = [e["action"] for e in events.json()["items"]]
    assert actions.count("console.sign_in") == 1 and actions.count("console.sign_out") == 1
    # the person is recorded as who acted (issue 20), never inside an event's details
    console_events = [e for e in events.json()["items"] if e["action"].startswith("console.")]
    assert {e["acted_by"] for e in console_events} == {name}
    assert all(name not in str(e["details"]) for e in events.json()["items"])
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in [*agency.keys.values(), name]:
        assert secret not in logged


async def test_bad_filters_are_named_and_change_nothing(
    browser_client: httpx.AsyncClient, agency: Agency
) -> None:
    await _sign_in(browser_client, agency.keys["caseworker"])
    r = await browser_client.get("/console/queue", params={"posting": "P-1", "to": "soon"})
    assert r.status_code == 422
    assert 'href="#f-posting">Posting id</a>' in r.text
    assert 'href="#f-to">Produced on or before</a>' in r.text
    assert 'id="f-posting" name="posting" type="text" value="P-1" aria-invalid="true"' in r.text
    r = await browser_client.get("/console/queue", params={"cursor": "not-a-cursor"})
    assert r.status_code == 422 and "Next page" in r.text
