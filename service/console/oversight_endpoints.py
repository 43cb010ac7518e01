"""The console's read-only oversight pages (seekers, postings, the audit trail, the job
market) and the admin pages (fairness policy, model registry, the stop switch for automated
ranking)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from service.audit import service as auditing
from service.auth.permissions import Principal
from service.console.pages import (
    PAGE_SIZE,
    PREFIX,
    app_state,
    checked_form,
    date_filter,
    page,
    parse_uuid,
    redirect,
    render,
    signed_in,
    uuid_filter,
)
from service.fairness import service as fairness
from service.kit.http import report_period
from service.kit.problems import ProblemError
from service.match_lists import ranking_switch
from service.records import service as records
from service.records.representation import PROTECTED_READERS
from service.reports import service as reporting
from service.scoring_models import service as scoring_models

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/seekers/{seeker_id}")
@page
async def seeker(request: Request, seeker_id: str) -> Response:
    principal = await signed_in(request, "seekers:read")
    row, protected = await records.read(
        app_state(request), principal, "seeker", parse_uuid(seeker_id)
    )
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
    row, _ = await records.read(app_state(request), principal, "posting", parse_uuid(posting_id))
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
    subject = uuid_filter(q.get("subject"), "subject", errors)
    actor = uuid_filter(q.get("actor"), "actor", errors)
    since = date_filter(q.get("from"), "from", errors)
    until = date_filter(q.get("to"), "to", errors)
    after = q.get("after", "")
    if after and not after.isdigit():
        errors["after"] = after
    events: list[Any] = []
    next_seq = None
    if not errors:
        events, next_seq = await auditing.events_page(
            app_state(request).pool,
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


@router.get("/market")
@page
async def market(request: Request) -> Response:
    """The market report (admins, auditors): its figures for a period of whole UTC days (the
    last 30 by default), the postings most exposed per opening in pages, and the trend."""
    principal = await signed_in(request, "reports:read")
    q = request.query_params
    errors: dict[str, str] = {}
    first_day = date_filter(q.get("from"), "from", errors)
    last_day = date_filter(q.get("to"), "to", errors)
    start = q.get("start", "")
    if start and not (start.isdigit() and int(start) <= 1_000_000):
        errors["start"] = start
    since = until = None
    if not errors:
        try:
            since, until = report_period(
                first_day, last_day + timedelta(days=1) if last_day else None
            )
        except ProblemError:
            errors["from"] = q.get("from", "")
    filters = {k: q.get(k, "") for k in ("from", "to")}
    if errors or since is None or until is None:
        return render(
            request,
            "market.html",
            status=422,
            report=None,
            filters=filters,
            errors=errors,
            pages={},
        )
    offset = int(start) if start else 0
    report = await reporting.market_report(
        app_state(request).pool,
        agency_id=principal.agency_id,
        since=since,
        until=until,
        limit=PAGE_SIZE,
        offset=offset,
    )
    kept = {k: v for k, v in filters.items() if v}
    pages = {
        "first": f"{PREFIX}/market?" + urlencode(kept) if offset else None,
        "next": f"{PREFIX}/market?" + urlencode({**kept, "start": offset + PAGE_SIZE})
        if offset + PAGE_SIZE < report["postings_total"]
        else None,
    }
    return render(
        request,
        "market.html",
        report=report,
        since=since,
        last_day=until - timedelta(seconds=1),
        offset=offset,
        filters=filters,
        errors=errors,
        pages=pages,
    )


@router.get("/admin/fairness")
@page
async def fairness_policy(request: Request) -> Response:
    principal = await signed_in(request, "fairness_policy:read")
    pool = app_state(request).pool
    current = await fairness.current(pool, agency_id=principal.agency_id)
    history = await fairness.history(pool, agency_id=principal.agency_id)
    return render(request, "fairness.html", current=current, history=history)


@router.get("/admin/models")
@page
async def models(request: Request) -> Response:
    principal = await signed_in(request, "models:read")
    stored, live, history = await scoring_models.registry(
        app_state(request).pool, agency_id=principal.agency_id
    )
    return render(
        request,
        "models.html",
        models=stored,
        live_id=live.model_id if live else None,
        activations=history,
        default_version=app_state(request).scorer.version,
    )


async def _ranking_page(
    request: Request, principal: Principal, *, status: int = 200, error: str | None = None
) -> HTMLResponse:
    stops = await ranking_switch.ranking_switch(app_state(request), principal)
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
    form = await checked_form(request)
    stopped = form.get("stopped") == "true"
    posting_id = None
    if form.get("scope") == "posting":
        raw = form.get("posting_id", "").strip()
        try:
            posting_id = UUID(raw)
        except ValueError:
            return await _ranking_page(request, principal, status=422, error="posting")
    try:
        await ranking_switch.set_ranking(
            app_state(request), principal, posting_id=posting_id, stopped=stopped
        )
    except ProblemError as e:
        if e.status != 404:
            raise
        return await _ranking_page(request, principal, status=404, error="posting")
    return redirect(f"{PREFIX}/admin/ranking?saved=1")
