"""Request dependencies: app state, the calling principal, and the permission check."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.auth import repository as agencies
from service.auth.permissions import (
    ACCOUNTABLE,
    AUDITOR_GRANTABLE,
    PERMISSIONS,
    Principal,
    Role,
)
from service.kit.problems import FieldError, ProblemError, not_found, validation_problem
from service.state import AppState

_bearer = HTTPBearer(auto_error=False, description="An API key of your agency")


async def get_state(request: Request) -> AppState:
    # async, like every dependency on the request path: FastAPI runs a plain `def` dependency in
    # a worker thread, two thread hand-offs per request for one attribute read.
    state: AppState = request.app.state.jobmatch
    return state


State = Annotated[AppState, Depends(get_state)]


def _secret(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or not credentials.credentials:
        raise ProblemError(
            401,
            "Unauthorized",
            "Send an API key as 'Authorization: Bearer <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return credentials.credentials


ACTING_PERSON = "Acting-Person"
# An opaque staff id: short, visible ASCII, no spaces. What it means is the agency's business;
# the service stores and shows it as sent.
ACTING_PERSON_PATTERN = r"^[!-~]{1,64}$"
_ACTING_PERSON = re.compile(ACTING_PERSON_PATTERN)


def acting_person(request: Request) -> str | None:
    """The `Acting-Person` header's value (None when absent); 422 naming the header when it is
    not a short printable id."""
    values = request.headers.getlist(ACTING_PERSON)
    if not values:
        return None
    if len(values) > 1 or not _ACTING_PERSON.match(values[0]):
        raise validation_problem(
            [
                FieldError(
                    field=f"header.{ACTING_PERSON}",
                    message="one opaque staff id of 1 to 64 printable ASCII characters, no spaces",
                )
            ]
        )
    return values[0]


ActingPersonHeader = Annotated[
    str | None,
    Header(
        alias=ACTING_PERSON,
        description="Opaque staff id of the person acting through this key (recorded as "
        "`acted_by`); required on decisions and other accountable writes when the agency's "
        "settings say so",
        pattern=ACTING_PERSON_PATTERN,
    ),
]


def admit(request: Request, state: AppState, principal: Principal | None) -> Principal:
    """What follows the key lookup, wherever it was done: 401 for an unknown or revoked key,
    then the key's rate limit (429), then the acting person's header (422 when malformed)."""
    if principal is None:
        raise ProblemError(
            401,
            "Unauthorized",
            "Unknown or revoked API key.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal
    wait = state.rate_limiter.take(principal.key_id)
    if wait is not None:
        raise ProblemError(
            429,
            "Too many requests",
            f"This key may send {state.settings.rate_limit_per_minute} requests a minute; "
            "retry after the time in Retry-After.",
            headers={"Retry-After": state.rate_limiter.retry_after(wait)},
        )
    person = acting_person(request)
    if person is not None:
        principal = replace(principal, acting_person=person)
        request.state.principal = principal
    return principal


async def get_principal(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    acting_person_header: ActingPersonHeader = None,  # documented here, read by `admit`
) -> Principal:
    secret = _secret(credentials)
    async with state.pool.acquire() as conn:
        principal = await agencies.principal_for_secret(conn, secret=secret)
    return admit(request, state, principal)


def permit(
    request: Request, principal: Principal, operation: str, *, granted: bool = False
) -> Principal:
    """The role check (403; `granted`: the agency opened this operation to its auditors), then
    the query parameters the route does not document (422)."""
    if not principal.may(operation) and not (
        granted and principal.role == Role.auditor and operation in AUDITOR_GRANTABLE
    ):
        raise ProblemError(
            403, "Forbidden", f"The {principal.role.value} role may not do {operation}."
        )
    reject_unknown_query_parameters(request)
    return principal


def authorize(operation: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """Dependency: the caller's principal, if its role may perform `operation` (else 403)."""
    if operation not in PERMISSIONS:
        raise KeyError(f"operation {operation!r} is not in the permission table")

    async def check(
        request: Request, state: State, principal: Annotated[Principal, Depends(get_principal)]
    ) -> Principal:
        granted = False
        if principal.role == Role.auditor and operation in AUDITOR_GRANTABLE:
            async with state.pool.acquire() as conn:
                granted = await agencies.auditor_reads_profiles(conn, agency_id=principal.agency_id)
        permit(request, principal, operation, granted=granted)
        if operation in ACCOUNTABLE and principal.acting_person is None:
            async with state.pool.acquire() as conn:
                required = await agencies.requires_acting_person(
                    conn, agency_id=principal.agency_id
                )
            if required:
                raise validation_problem(
                    [
                        FieldError(
                            field=f"header.{ACTING_PERSON}",
                            message="your agency requires the acting person's staff id on "
                            "this request",
                        )
                    ]
                )
        return principal

    check.operation = operation  # type: ignore[attr-defined]  # read by the permission test
    return check


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """A bearer key not looked up yet, for a route that looks it up in the same query as its
    data (one database round trip instead of two). `admit` then `permit` must run on the
    looked-up principal before anything read with it is used or answered: the same checks, in
    the same order, as `authorize`."""

    secret: str
    operation: str
    request: Request
    state: AppState

    def principal(self, found: Principal | None, *, granted: bool = False) -> Principal:
        """`granted`: the key's agency opens this operation to auditors (see `permit`)."""
        return permit(
            self.request, admit(self.request, self.state, found), self.operation, granted=granted
        )


# The OpenAPI security requirement of a route using `authorize_in_query` (whose dependency does
# not declare the bearer scheme itself), the same as `authorize` routes get from `_bearer`.
BEARER_SECURITY: dict[str, Any] = {"security": [{"HTTPBearer": []}]}


def authorize_in_query(operation: str) -> Callable[..., Coroutine[Any, Any, KeyCheck]]:
    """Like `authorize(operation)`, for a route that looks the key up with its own query (see
    KeyCheck): no database work here; 401 at once when no key is sent. One dependency without
    sub-dependencies (the header is parsed by the same `_bearer`), as FastAPI resolves each
    sub-dependency anew on every request; give the route `openapi_extra=BEARER_SECURITY`."""
    if operation not in PERMISSIONS:
        raise KeyError(f"operation {operation!r} is not in the permission table")

    async def check(request: Request) -> KeyCheck:
        credentials = await _bearer(request)
        return KeyCheck(_secret(credentials), operation, request, request.app.state.jobmatch)

    check.operation = operation  # type: ignore[attr-defined]  # read by the permission test
    return check


def reject_unknown_query_parameters(request: Request) -> None:
    """422 for query parameters the route does not document, or given twice (each takes one
    value): like unknown body fields, a typo (`?limt=5`) must not silently do something else."""
    if not request.scope.get("query_string"):
        return  # no parameters: nothing to check (most requests)
    route = request.scope.get("route")
    op = request.app.openapi()["paths"].get(getattr(route, "path", None), {})
    op = op.get(request.method.lower())
    if op is None:
        return
    known = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
    errors = [
        FieldError(
            field=f"query.{k}"[:200],
            message="unknown parameter" if k not in known else "given more than once",
        )
        for k in sorted(set(request.query_params))
        if k not in known or len(request.query_params.getlist(k)) > 1
    ]
    if errors:
        raise validation_problem(errors)


def parse_id(value: str, what: str) -> UUID:
    """Ids are opaque; a malformed one is as unknown as a missing one (404)."""
    try:
        return UUID(value)
    except ValueError:
        raise not_found(what) from None
