"""One error shape: RFC 9457 `application/problem+json` for every 4xx and 5xx answer."""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.kit.pool import DATABASE_UNAVAILABLE, replace_connections_after

log = logging.getLogger("jobmatch.errors")

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://jobmatch.dev/problems/"


class FieldError(BaseModel):
    field: str
    message: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise anywhere to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        slug: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.slug = slug or title.lower().replace(" ", "-")
        self.errors = errors
        self.headers = headers


def not_found(what: str) -> ProblemError:
    return ProblemError(404, "Not found", f"No {what} with this id in your agency.")


def conflict(detail: str) -> ProblemError:
    return ProblemError(409, "Conflict", detail)


class FieldValueError(ValueError):
    """A check of a whole object (a model validator) that concerns one of its fields: the
    error names that field (`body.p`), not only the object (`body`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def field_errors_from_pydantic(
    errors: list[Any], *, prefix: tuple[str | int, ...] = ()
) -> list[FieldError]:
    out = []
    for err in errors:
        cause = (err.get("ctx") or {}).get("error")
        within = (cause.field,) if isinstance(cause, FieldValueError) else ()
        # Locations name input keys, which may hold anything: keep them printable and storable
        # (bulk reports are stored).
        loc = [
            str(p).encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")[:200]
            for p in (*prefix, *err.get("loc", ()), *within)
        ]
        # FastAPI prefixes locations with "body"/"query"/...; keep them, they say where to look.
        out.append(
            FieldError(field=".".join(loc), message=err.get("msg", ""), type=err.get("type"))
        )
    return out


def validation_problem(errors: list[FieldError], detail: str | None = None) -> ProblemError:
    return ProblemError(
        422,
        "Validation failed",
        detail or "; ".join(f"{e.field}: {e.message}" for e in errors[:5]),
        slug="validation",
        errors=errors,
    )


def problem_response(
    request: Request | None,
    status: int,
    title: str,
    detail: str | None,
    *,
    slug: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=_TYPE_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path if request is not None else None,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    503: "Service unavailable",
}


def allowed_methods(request: Request) -> list[str]:
    """The methods of the most specific route templates that match the request's path (a
    `/jobs/{id}:cancel` path also matches `/jobs/{id}`; it is the former's resource)."""
    from fastapi.routing import iter_route_contexts

    scope = {**request.scope, "method": "\x00"}  # fits no route's methods: path-only matches
    best, methods = -1, set[str]()
    for ctx in iter_route_contexts(request.app.router.routes):
        if not ctx.methods:
            continue
        match, _ = ctx.matches(scope)
        if match == Match.NONE:
            continue
        literal = len(re.sub(r"{[^}]*}", "", ctx.path or ""))
        if literal > best:
            best, methods = literal, set[str]()
        if literal == best:
            methods |= set(ctx.methods)
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.title,
            exc.detail,
            slug=exc.slug,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors_from_pydantic(list(exc.errors()))
        p = validation_problem(errors)
        return problem_response(request, 422, p.title, p.detail, slug=p.slug, errors=errors)

    @app.exception_handler(ValidationError)
    async def _model_validation(request: Request, exc: ValidationError) -> JSONResponse:
        errors = field_errors_from_pydantic(list(exc.errors()), prefix=("body",))
        p = validation_problem(errors)
        return problem_response(request, 422, p.title, p.detail, slug=p.slug, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # The framework's only 400: a body it could not parse (not UTF-8, not JSON). Answer
            # like every other unreadable body: 422 naming the body.
            p = validation_problem([FieldError(field="body", message="not valid JSON")])
            return problem_response(request, 422, p.title, p.detail, slug=p.slug, errors=p.errors)
        title = _TITLES.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names the methods of the first route whose path matched; name all of
            # the resource's methods.
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return problem_response(
            request,
            exc.status_code,
            title,
            detail,
            slug=title.lower().replace(" ", "-"),
            headers=headers,
        )

    # Connection lost or refused, server shutting down or starting, statement timeout
    # (QueryCanceledError, an OperatorInterventionError), connect/acquire timeouts: all 503.
    async def _db_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc).__name__)
        state = getattr(request.app.state, "jobmatch", None)
        if state is not None:
            await replace_connections_after(state.pool, exc)
        return problem_response(
            request,
            503,
            "Service unavailable",
            "The database is unavailable; retry shortly.",
            slug="unavailable",
            headers={"Retry-After": "5"},
        )

    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _db_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The type, route template and stack only: the exception's text (and the request's path
        # and body) may quote personal data.
        route = getattr(request.scope.get("route"), "path", "-")
        stack = "".join(traceback.format_tb(exc.__traceback__))
        log.error("unhandled %s on %s\n%s", type(exc).__name__, route, stack)
        return problem_response(
            request, 500, "Internal error", "Something went wrong on our side.", slug="internal"
        )
