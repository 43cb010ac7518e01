"""The caseworker console: server-rendered pages at /console over the capabilities' services.

Every page works without JavaScript: plain links, GET forms for filters and POST forms (with a
CSRF token) that redirect after success. A session cookie (HttpOnly, SameSite=Strict, Secure
over HTTPS) stands for an API key exchanged at sign-in; the key itself never reaches a page.
This module: signing in and out, the review queue, lists, decisions, what would change."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from service.auth.permissions import Principal
from service.console import presentation as views
from service.console import service as consoles
from service.console.i18n import LANGUAGES
from service.console.pages import (
    LANGUAGE_COOKIE,
    PAGE_SIZE,
    PREFIX,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    app_state,
    checked_form,
    date_filter,
    home_of,
    is_secure,
    page,
    parse_uuid,
    redirect,
    render,
    safe_next,
    signed_in,
    translator,
    uuid_filter,
)
from service.console.service import SignInRefused, principal_for
from service.kit.problems import ProblemError
from service.match_lists.presentation import to_response, visible_to, without_profiles
from service.records.representation import PROTECTED_READERS
from service.review import service as reviews
from service.review import whatif
from service.review.schemas import DecisionIn

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("")
@page
async def home(request: Request) -> Response:
    return redirect(home_of(await signed_in(request)))


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    session = await consoles.session_for(
        app_state(request).pool, request.cookies.get(SESSION_COOKIE)
    )
    if session is not None:
        return redirect(home_of(principal_for(session)))
    return _sign_in_page(request, status=200, error=None)


def _sign_in_page(request: Request, *, status: int, error: str | None) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "sign_in.html",
        status=status,
        sign_in_csrf=token,
        error=error,
        next=safe_next(request.query_params.get("next")) or "",
        signed_out="signed_out" in request.query_params,
        hours=translator(request).number(app_state(request).settings.console_session_hours, 0),
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
        path=PREFIX,
    )
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    expected = request.cookies.get(SIGN_IN_COOKIE) or ""
    if not expected or not consoles.csrf_matches(expected, str(form.get("csrf_token") or "")):
        return _sign_in_page(request, status=403, error="csrf")
    state = app_state(request)
    try:
        session = await consoles.sign_in(
            state.pool,
            secret=str(form.get("api_key") or ""),
            person=str(form.get("person") or ""),
            lifetime=timedelta(hours=state.settings.console_session_hours),
        )
    except SignInRefused as refused:
        status = 422 if refused.reason == "person" else 401
        return _sign_in_page(request, status=status, error=refused.reason)
    target = safe_next(str(form.get("next") or "")) or home_of(principal_for(session))
    response = redirect(target)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=int((session.expires_at - datetime.now(UTC)).total_seconds()),
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
        path=PREFIX,
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
@page
async def sign_out(request: Request) -> Response:
    await signed_in(request)
    await checked_form(request)
    await consoles.sign_out(app_state(request).pool, request.state.console_session)
    response = redirect(f"{PREFIX}/sign-in?signed_out=1")
    response.delete_cookie(
        SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict", secure=is_secure(request)
    )
    return response


@router.get("/language")
async def choose_language(request: Request) -> Response:
    """The language switch: a link per language; the choice is kept in a cookie."""
    chosen = request.query_params.get("to")
    response = redirect(safe_next(request.query_params.get("next")) or PREFIX)
    if chosen in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="strict",
            secure=is_secure(request),
            path=PREFIX,
        )
    return response


@router.get("/accessibility")
async def accessibility(request: Request) -> Response:
    session = await consoles.session_for(
        app_state(request).pool, request.cookies.get(SESSION_COOKIE)
    )
    request.state.console_session = session
    return render(request, "accessibility.html")


# --------------------------------------------------------------------------- review


@router.get("/queue")
@page
async def queue(request: Request) -> Response:
    principal = await signed_in(request, "match_lists:read")
    q = request.query_params
    errors: dict[str, str] = {}
    posting_id = uuid_filter(q.get("posting"), "posting", errors)
    seeker_id = uuid_filter(q.get("seeker"), "seeker", errors)
    since = date_filter(q.get("from"), "from", errors)
    until = date_filter(q.get("to"), "to", errors)
    rows: list[Any] = []
    next_cursor = None
    if not errors:
        try:
            rows, next_cursor = await reviews.list_summaries(
                app_state(request).pool,
                agency_id=principal.agency_id,
                seeker_id=seeker_id,
                posting_id=posting_id,
                since=since,
                # "on or before" a day: the whole day counts
                until=until + timedelta(days=1) if until else None,
                unreviewed=True,
                cursor=q.get("cursor") or None,
                limit=PAGE_SIZE,
                latest_per_subject=True,
            )
        except ProblemError:
            errors["cursor"] = q.get("cursor") or ""
    filters = {k: q.get(k, "") for k in ("posting", "seeker", "from", "to")}
    next_url = None
    if next_cursor:
        next_url = f"{PREFIX}/queue?" + urlencode(
            {**{k: v for k, v in filters.items() if v}, "cursor": next_cursor}
        )
    return render(
        request,
        "queue.html",
        status=422 if errors else 200,
        rows=rows,
        filters=filters,
        errors=errors,
        next_url=next_url,
        paged="cursor" in q,
    )


async def _list_page(
    request: Request,
    principal: Principal,
    list_id: UUID,
    *,
    status: int = 200,
    form_error: tuple[int, dict[str, str], dict[str, str]] | None = None,
) -> HTMLResponse:
    pool = app_state(request).pool
    stored, items, decisions, profiles = await reviews.read_list(pool, principal, list_id)
    match_list = visible_to(principal, to_response(stored, items, decisions))
    match_list = match_list if profiles else without_profiles(match_list)
    # The seeker's external id or the posting's title, as the queue shows them.
    summaries, _ = await reviews.list_summaries(
        pool,
        agency_id=principal.agency_id,
        seeker_id=stored.seeker_id,
        posting_id=stored.posting_id,
        since=None,
        until=None,
        unreviewed=False,
        cursor=None,
        limit=1,
    )
    subject = summaries[0] if summaries else None
    if subject is None:
        list_name = ""
    elif stored.kind == "seekers_for_posting":
        list_name = subject.posting_title or subject.posting_external_id or ""
    else:
        list_name = subject.seeker_external_id or ""
    item_views = views.item_views(match_list)
    if form_error is not None:
        rank, errors, values = form_error
        for v in item_views:
            if v.item.rank == rank:
                v.error, v.values = errors, values
    notice = None
    done = request.query_params.get("done", "")
    action, _, rank_text = done.partition(":")
    if action in ("shortlist", "contact", "reject", "override") and rank_text.isdigit():
        notice = (action, int(rank_text))
    return render(
        request,
        "list.html",
        status=status,
        match_list=match_list,
        list_name=list_name,
        items=item_views,
        fairness=views.fairness_view(match_list),
        protected_reader=principal.role in PROTECTED_READERS,
        reasons=views.REASON_CODES,
        notice=notice,
        form_error=form_error,
    )


@router.get("/lists/{list_id}")
@page
async def match_list(request: Request, list_id: str) -> Response:
    principal = await signed_in(request, "match_lists:read")
    return await _list_page(request, principal, parse_uuid(list_id))


@router.post("/lists/{list_id}/decisions")
@page
async def decide(request: Request, list_id: str) -> Response:
    principal = await signed_in(request, "decisions:write")
    form = await checked_form(request)
    lid = parse_uuid(list_id)
    rank_text = form.get("rank", "")
    if not rank_text.isdigit():
        raise ProblemError(404, "Not found")
    rank = int(rank_text)
    action = form.get("action", "")
    note = form.get("note", "").strip() or None
    new_rank_text = form.get("new_rank", "").strip()
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"rank": rank, "action": action, "note": note}
    if action == "reject":
        if not form.get("reason_code"):
            errors["reason_code"] = "decide.error.reason"
        body["reason_code"] = form.get("reason_code") or None
    if action == "override":
        if not note:
            errors["note"] = "decide.error.note"
        if not new_rank_text.isdigit() or int(new_rank_text) < 1:
            errors["new_rank"] = "decide.error.new_rank"
        else:
            body["new_rank"] = int(new_rank_text)
    decision: DecisionIn | None = None
    if not errors:
        try:
            decision = DecisionIn(**body)
        except ValidationError:
            errors["action"] = "error.form"
    if decision is not None:
        try:
            await reviews.record_decisions(app_state(request), principal, lid, [decision])
        except ProblemError as e:
            if e.status != 422:
                raise
            # A rank or new rank the list does not have.
            errors["new_rank" if action == "override" else "action"] = "decide.error.new_rank"
    if errors:
        values = {k: form.get(k, "") for k in ("note", "new_rank", "reason_code")}
        return await _list_page(
            request, principal, lid, status=422, form_error=(rank, errors, values)
        )
    return redirect(f"{PREFIX}/lists/{lid}?done={action}:{rank}#item-{rank}")


@router.get("/lists/{list_id}/items/{rank}/what-would-change")
@page
async def what_would_change(request: Request, list_id: str, rank: str) -> Response:
    principal = await signed_in(request, "match_lists:read")
    if not rank.isdigit() or not 1 <= int(rank) <= 1000:
        raise ProblemError(404, "Not found")
    lid = parse_uuid(list_id)
    t = translator(request)
    result = await whatif.what_would_change(
        app_state(request), principal, lid, int(rank), language=t.lang
    )
    stored, items, decisions, _ = await reviews.read_list(app_state(request).pool, principal, lid)
    match_list = to_response(stored, items, decisions)
    item = next(it for it in match_list.items if it.rank == int(rank))
    sentences = [views.suggestion_words(t, match_list.kind, s) for s in result["suggestions"]]
    return render(
        request,
        "whatif.html",
        match_list=match_list,
        item=item,
        name=views.item_name(item),
        result=result,
        sentences=sentences,
    )


# --------------------------------------------------------------------------- records
