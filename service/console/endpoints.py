"""The caseworker console: server-rendered pages at /console over the capabilities' services.

Every page works without JavaScript: plain links, GET forms for filters and POST forms (with a
CSRF token) that redirect after success. A session cookie (HttpOnly, SameSite=Strict, Secure
over HTTPS) stands for an API key exchanged at sign-in; the key itself never reaches a page.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from service.audit import service as auditing
from service.auth.permissions import Principal
from service.console import presentation as views
from service.console import service as consoles
from service.console.i18n import LANGUAGE_NAMES, LANGUAGES, Translator, negotiate
from service.console.service import ConsoleSession, SignInRefused, principal_for
from service.fairness import service as fairness
from service.kit.problems import ProblemError
from service.match_lists import service as matchmaking
from service.match_lists.presentation import to_response, visible_to, without_profiles
from service.records import service as records
from service.records.representation import PROTECTED_READERS
from service.review import service as reviews
from service.review import whatif
from service.review.schemas import DecisionIn
from service.scoring_models import service as scoring_models
from service.state import AppState

PREFIX = "/console"
STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "jobmatch_console"
SIGN_IN_COOKIE = "jobmatch_console_sign_in"  # the sign-in form's CSRF token (double submit)
LANGUAGE_COOKIE = "jobmatch_console_lang"
PAGE_SIZE = 20

router = APIRouter(prefix=PREFIX, include_in_schema=False)
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _readable(value: Any) -> str:
    """A stored JSON value in words for a read-only page: lists joined, objects as key: value."""
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {_readable(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(
            f"({_readable(v)})" if isinstance(v, dict) and len(v) > 1 else _readable(v)
            for v in value
        )
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


_templates.filters["fmt"] = _readable

# Pages and forms of the console: only this origin's styles, no script, never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

# Navigation: (operation the role needs, path, label key).
NAV = (
    ("match_lists:read", "/queue", "nav.queue"),
    ("audit:read", "/audit", "nav.audit"),
    ("fairness_policy:read", "/admin/fairness", "nav.fairness"),
    ("models:read", "/admin/models", "nav.models"),
    ("ranking:read", "/admin/ranking", "nav.ranking"),
)


class _SignInNeeded(Exception):
    pass


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.jobmatch
    return state


def _translator(request: Request) -> Translator:
    return Translator(
        negotiate(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    )


def _secure(request: Request) -> bool:
    """Served over TLS, here or at a proxy (`jobmatch serve` does not rewrite the scheme from
    X-Forwarded-Proto). Trusting the header costs nothing: it can only make the cookie
    stricter."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    t = _translator(request)
    session: ConsoleSession | None = getattr(request.state, "console_session", None)
    principal = principal_for(session) if session else None
    nav = [
        (PREFIX + path, t(label))
        for op, path, label in NAV
        if principal is not None and principal.may(op)
    ]
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = _templates.get_template(template).render(
        t=t,
        session=session,
        csrf=session.csrf_token if session else None,
        nav=nav,
        path=request.url.path,
        here=quote(here, safe=""),
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        prefix=PREFIX,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    response.headers["Content-Language"] = t.lang
    return response


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status=status, message=message)


def page(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """A console route: no session → the sign-in page; a capability's refusal → an HTML page
    saying why (never the API's JSON), with the same status."""

    @functools.wraps(handler)
    async def run(**kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        try:
            return await handler(**kwargs)
        except _CsrfRefused:
            return _error_page(request, 403, _translator(request)("error.csrf"))
        except _SignInNeeded:
            target = request.url.path
            if request.method == "GET" and request.url.query:
                target += f"?{request.url.query}"
            return RedirectResponse(
                f"{PREFIX}/sign-in?{urlencode({'next': target})}",
                status_code=303,
                headers=SECURITY_HEADERS,
            )
        except ProblemError as e:
            t = _translator(request)
            if e.status in (403, 404):
                return _error_page(request, e.status, t(f"error.{e.status}"))
            if e.status == 409:
                return _error_page(request, 409, t("error.409", detail=e.detail or e.title))
            return _error_page(request, e.status, t("error.generic", detail=e.detail or e.title))

    return run


async def signed_in(request: Request, operation: str | None = None) -> Principal:
    """The session's principal, if the role may do `operation` (else a 403 page)."""
    session = await consoles.session_for(_state(request).pool, request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise _SignInNeeded
    request.state.console_session = session
    principal = principal_for(session)
    if operation is not None and not principal.may(operation):
        raise ProblemError(403, "Forbidden")
    return principal


async def _checked_form(request: Request) -> dict[str, str]:
    """The posted form, after its CSRF token was checked against the session's (else 403)."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    session: ConsoleSession = request.state.console_session
    if not consoles.csrf_matches(session.csrf_token, form.get("csrf_token")):
        raise _CsrfRefused
    return form


class _CsrfRefused(ProblemError):
    def __init__(self) -> None:
        super().__init__(403, "Forbidden", "csrf")


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ProblemError(404, "Not found") from None


def _home(principal: Principal) -> str:
    for op, path, _ in NAV:
        if principal.may(op):
            return PREFIX + path
    return PREFIX + "/accessibility"


def _safe_next(target: str | None) -> str | None:
    """Only a path inside the console (no other host, no scheme-relative `//`)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return None


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


# --------------------------------------------------------------------------- sign-in


@router.get("")
@page
async def home(request: Request) -> Response:
    return _redirect(_home(await signed_in(request)))


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    session = await consoles.session_for(_state(request).pool, request.cookies.get(SESSION_COOKIE))
    if session is not None:
        return _redirect(_home(principal_for(session)))
    return _sign_in_page(request, status=200, error=None)


def _sign_in_page(request: Request, *, status: int, error: str | None) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "sign_in.html",
        status=status,
        sign_in_csrf=token,
        error=error,
        next=_safe_next(request.query_params.get("next")) or "",
        signed_out="signed_out" in request.query_params,
        hours=_translator(request).number(_state(request).settings.console_session_hours, 0),
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path=PREFIX,
    )
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    expected = request.cookies.get(SIGN_IN_COOKIE) or ""
    if not expected or not consoles.csrf_matches(expected, str(form.get("csrf_token") or "")):
        return _sign_in_page(request, status=403, error="csrf")
    state = _state(request)
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
    target = _safe_next(str(form.get("next") or "")) or _home(principal_for(session))
    response = _redirect(target)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=int((session.expires_at - datetime.now(UTC)).total_seconds()),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path=PREFIX,
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
@page
async def sign_out(request: Request) -> Response:
    await signed_in(request)
    await _checked_form(request)
    await consoles.sign_out(_state(request).pool, request.state.console_session)
    response = _redirect(f"{PREFIX}/sign-in?signed_out=1")
    response.delete_cookie(
        SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict", secure=_secure(request)
    )
    return response


@router.get("/language")
async def choose_language(request: Request) -> Response:
    """The language switch: a link per language; the choice is kept in a cookie."""
    chosen = request.query_params.get("to")
    response = _redirect(_safe_next(request.query_params.get("next")) or PREFIX)
    if chosen in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path=PREFIX,
        )
    return response


@router.get("/accessibility")
async def accessibility(request: Request) -> Response:
    session = await consoles.session_for(_state(request).pool, request.cookies.get(SESSION_COOKIE))
    request.state.console_session = session
    return render(request, "accessibility.html")


# --------------------------------------------------------------------------- review


def _date_filter(raw: str | None, field: str, errors: dict[str, str]) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    except ValueError:
        errors[field] = raw
        return None


def _uuid_filter(raw: str | None, field: str, errors: dict[str, str]) -> UUID | None:
    if not raw:
        return None
    try:
        return UUID(raw.strip())
    except ValueError:
        errors[field] = raw
        return None


@router.get("/queue")
@page
async def queue(request: Request) -> Response:
    principal = await signed_in(request, "match_lists:read")
    q = request.query_params
    errors: dict[str, str] = {}
    posting_id = _uuid_filter(q.get("posting"), "posting", errors)
    seeker_id = _uuid_filter(q.get("seeker"), "seeker", errors)
    since = _date_filter(q.get("from"), "from", errors)
    until = _date_filter(q.get("to"), "to", errors)
    rows: list[Any] = []
    next_cursor = None
    if not errors:
        try:
            rows, next_cursor = await reviews.list_summaries(
                _state(request).pool,
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
    pool = _state(request).pool
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
    return await _list_page(request, principal, _uuid(list_id))


@router.post("/lists/{list_id}/decisions")
@page
async def decide(request: Request, list_id: str) -> Response:
    principal = await signed_in(request, "decisions:write")
    form = await _checked_form(request)
    lid = _uuid(list_id)
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
            await reviews.record_decisions(_state(request), principal, lid, [decision])
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
    return _redirect(f"{PREFIX}/lists/{lid}?done={action}:{rank}#item-{rank}")


@router.get("/lists/{list_id}/items/{rank}/what-would-change")
@page
async def what_would_change(request: Request, list_id: str, rank: str) -> Response:
    principal = await signed_in(request, "match_lists:read")
    if not rank.isdigit() or not 1 <= int(rank) <= 1000:
        raise ProblemError(404, "Not found")
    lid = _uuid(list_id)
    t = _translator(request)
    result = await whatif.what_would_change(
        _state(request), principal, lid, int(rank), language=t.lang
    )
    stored, items, decisions, _ = await reviews.read_list(_state(request).pool, principal, lid)
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


@router.get("/seekers/{seeker_id}")
@page
async def seeker(request: Request, seeker_id: str) -> Response:
    principal = await signed_in(request, "seekers:read")
    row, protected = await records.read(_state(request), principal, "seeker", _uuid(seeker_id))
    return render(
        request,
        "record.html",
        kind="seeker",
        row=row,
        profile=row.profile,
        protected=protected,
        protected_shown=principal.role in PROTECTED_READERS,
    )


@router.get("/postings/{posting_id}")
@page
async def posting(request: Request, posting_id: str) -> Response:
    principal = await signed_in(request, "postings:read")
    row, _ = await records.read(_state(request), principal, "posting", _uuid(posting_id))
    return render(
        request,
        "record.html",
        kind="posting",
        row=row,
        profile=row.profile,
        protected=None,
        protected_shown=False,
    )


# --------------------------------------------------------------------------- oversight


@router.get("/audit")
@page
async def audit(request: Request) -> Response:
    principal = await signed_in(request, "audit:read")
    q = request.query_params
    errors: dict[str, str] = {}
    subject = _uuid_filter(q.get("subject"), "subject", errors)
    actor = _uuid_filter(q.get("actor"), "actor", errors)
    since = _date_filter(q.get("from"), "from", errors)
    until = _date_filter(q.get("to"), "to", errors)
    after = q.get("after", "")
    if after and not after.isdigit():
        errors["after"] = after
    events: list[Any] = []
    next_seq = None
    if not errors:
        events, next_seq = await auditing.events_page(
            _state(request).pool,
            agency_id=principal.agency_id,
            after_seq=int(after) if after else None,
            limit=PAGE_SIZE * 2,
            actor_key_id=actor,
            subject_id=subject,
            action=q.get("action") or None,
            since=since,
            until=until + timedelta(days=1) if until else None,
        )
    filters = {k: q.get(k, "") for k in ("action", "subject", "actor", "from", "to")}
    next_url = None
    if next_seq is not None:
        next_url = f"{PREFIX}/audit?" + urlencode(
            {**{k: v for k, v in filters.items() if v}, "after": next_seq}
        )
    return render(
        request,
        "audit.html",
        status=422 if errors else 200,
        events=events,
        filters=filters,
        errors=errors,
        next_url=next_url,
        paged=bool(after),
    )


@router.get("/admin/fairness")
@page
async def fairness_policy(request: Request) -> Response:
    principal = await signed_in(request, "fairness_policy:read")
    pool = _state(request).pool
    current = await fairness.current(pool, agency_id=principal.agency_id)
    history = await fairness.history(pool, agency_id=principal.agency_id)
    return render(request, "fairness.html", current=current, history=history)


@router.get("/admin/models")
@page
async def models(request: Request) -> Response:
    principal = await signed_in(request, "models:read")
    stored, live, history = await scoring_models.registry(
        _state(request).pool, agency_id=principal.agency_id
    )
    return render(
        request,
        "models.html",
        models=stored,
        live_id=live.model_id if live else None,
        activations=history,
        default_version=_state(request).scorer.version,
    )


async def _ranking_page(
    request: Request, principal: Principal, *, status: int = 200, error: str | None = None
) -> HTMLResponse:
    stops = await matchmaking.ranking_switch(_state(request), principal)
    return render(
        request,
        "ranking.html",
        status=status,
        stops=stops,
        may_write=principal.may("ranking:write"),
        error=error,
        saved="saved" in request.query_params,
    )


@router.get("/admin/ranking")
@page
async def ranking(request: Request) -> Response:
    return await _ranking_page(request, await signed_in(request, "ranking:read"))


@router.post("/admin/ranking")
@page
async def set_ranking(request: Request) -> Response:
    """The stop switch: for the agency, or for a posting given by its id."""
    principal = await signed_in(request, "ranking:write")
    form = await _checked_form(request)
    stopped = form.get("stopped") == "true"
    posting_id = None
    if form.get("scope") == "posting":
        raw = form.get("posting_id", "").strip()
        try:
            posting_id = UUID(raw)
        except ValueError:
            return await _ranking_page(request, principal, status=422, error="posting")
    try:
        await matchmaking.set_ranking(
            _state(request), principal, posting_id=posting_id, stopped=stopped
        )
    except ProblemError as e:
        if e.status != 404:
            raise
        return await _ranking_page(request, principal, status=404, error="posting")
    return _redirect(f"{PREFIX}/admin/ranking?saved=1")
