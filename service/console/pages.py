"""The console's page kit: templates, security headers, the signed-in check, CSRF, errors as
pages, redirects. Knows no capability."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from service.auth.permissions import Principal
from service.console import service as consoles
from service.console.i18n import LANGUAGE_NAMES, LANGUAGES, Translator, negotiate
from service.console.service import ConsoleSession, principal_for
from service.kit.problems import ProblemError
from service.state import AppState

PREFIX = "/console"
STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "jobmatch_console"
SIGN_IN_COOKIE = "jobmatch_console_sign_in"  # the sign-in form's CSRF token (double submit)
LANGUAGE_COOKIE = "jobmatch_console_lang"
PAGE_SIZE = 20

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def readable(value: Any) -> str:
    """A stored JSON value in words for a read-only page: lists joined, objects as key: value."""
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {readable(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(
            f"({readable(v)})" if isinstance(v, dict) and len(v) > 1 else readable(v) for v in value
        )
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


_templates.filters["fmt"] = readable

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
    ("reports:read", "/market", "nav.market"),
)


class SignInNeeded(Exception):
    pass


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.jobmatch
    return state


def translator(request: Request) -> Translator:
    return Translator(
        negotiate(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    )


def is_secure(request: Request) -> bool:
    """Served over TLS, here or at a proxy (`jobmatch serve` does not rewrite the scheme from
    X-Forwarded-Proto). Trusting the header costs nothing: it can only make the cookie
    stricter."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    t = translator(request)
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


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status=status, message=message)


def page(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """A console route: no session → the sign-in page; a capability's refusal → an HTML page
    saying why (never the API's JSON), with the same status."""

    @functools.wraps(handler)
    async def run(**kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        try:
            return await handler(**kwargs)
        except CsrfRefused:
            return error_page(request, 403, translator(request)("error.csrf"))
        except SignInNeeded:
            target = request.url.path
            if request.method == "GET" and request.url.query:
                target += f"?{request.url.query}"
            return RedirectResponse(
                f"{PREFIX}/sign-in?{urlencode({'next': target})}",
                status_code=303,
                headers=SECURITY_HEADERS,
            )
        except ProblemError as e:
            t = translator(request)
            if e.status in (403, 404):
                return error_page(request, e.status, t(f"error.{e.status}"))
            if e.status == 409:
                return error_page(request, 409, t("error.409", detail=e.detail or e.title))
            return error_page(request, e.status, t("error.generic", detail=e.detail or e.title))

    return run


async def signed_in(request: Request, operation: str | None = None) -> Principal:
    """The session's principal, if the role may do `operation` (else a 403 page)."""
    session = await consoles.session_for(
        app_state(request).pool, request.cookies.get(SESSION_COOKIE)
    )
    if session is None:
        raise SignInNeeded
    request.state.console_session = session
    principal = principal_for(session)
    if operation is not None and not principal.may(operation):
        raise ProblemError(403, "Forbidden")
    return principal


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, after its CSRF token was checked against the session's (else 403)."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    session: ConsoleSession = request.state.console_session
    if not consoles.csrf_matches(session.csrf_token, form.get("csrf_token")):
        raise CsrfRefused
    return form


class CsrfRefused(ProblemError):
    def __init__(self) -> None:
        super().__init__(403, "Forbidden", "csrf")


def parse_uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ProblemError(404, "Not found") from None


def home_of(principal: Principal) -> str:
    for op, path, _ in NAV:
        if principal.may(op):
            return PREFIX + path
    return PREFIX + "/accessibility"


def safe_next(target: str | None) -> str | None:
    """Only a path inside the console (no other host, no scheme-relative `//`)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return None


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


# --------------------------------------------------------------------------- sign-in


def date_filter(raw: str | None, field: str, errors: dict[str, str]) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    except ValueError:
        errors[field] = raw
        return None


def uuid_filter(raw: str | None, field: str, errors: dict[str, str]) -> UUID | None:
    if not raw:
        return None
    try:
        return UUID(raw.strip())
    except ValueError:
        errors[field] = raw
        return None
