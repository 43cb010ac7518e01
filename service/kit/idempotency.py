"""`Idempotency-Key` on creates: a retry gets the first response instead of a second record.

How it works, per agency and key:

1. The route's `Idempotent` dependency (after authentication) hashes the request (method, path,
   query, content type, body; JSON canonicalised) and, in a transaction of its own, inserts a
   *pending* row. The unique (agency_id, key) constraint lets exactly one request claim a key.
2. The claimant runs the create. `IdempotencyMiddleware` holds back its response; a 2xx one is
   stored on the row (status, body, Location/ETag) before it is sent. Any other answer releases
   the key (the row is deleted), so the client may fix the request and retry with the same key.
3. A request that finds the key taken:
   - with another request hash: 422 (a key names one request);
   - completed: the stored response is replayed (header `Idempotent-Replayed: true`);
   - still pending: it polls until the first completes (at most `idempotency_wait_s`), then
     replays; past that it answers 409 with Retry-After (retry later with the same key);
   - still pending, but the first request noted where its result will be (`note_location`:
     a bulk import's job, queued before the answer): the route is called with
     `pending_location(request)` set, and answers with that job as it is now. A client cut off
     by a crash gets its job back, not a 409.

Keys are kept `idempotency_ttl_hours` (24 h by default). A pending row left by a process that
died mid-request may be taken over by the same request after `idempotency_stale_s`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import orjson
from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth.dependencies import State, get_principal
from service.auth.permissions import Principal
from service.kit import idempotency_repository as idempotency_db
from service.kit.problems import FieldError, ProblemError, validation_problem

log = logging.getLogger("jobmatch.idempotency")

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
_KEPT_HEADERS = ("location", "etag", "content-type")
_SWEEP_CHANCE = 0.01  # share of claims that also delete every agency's expired keys
_pending: set[asyncio.Future[None]] = set()  # releases in flight (kept referenced)


class Replay(Exception):
    """Raised by the dependency to answer with a stored response."""

    def __init__(self, status: int, body: Any, headers: dict[str, str]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers


@dataclass(frozen=True, slots=True)
class Claim:
    pool: asyncpg.Pool
    agency_id: UUID
    key: str


def request_hash(method: str, path: str, query: str, content_type: str, body: bytes) -> str:
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = body
    h = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), content_type.encode()):
        h.update(part + b"\n")
    h.update(canonical)
    return h.hexdigest()


def _replay(stored: idempotency_db.Stored) -> Replay:
    assert stored.status is not None
    headers = {**(stored.headers or {}), REPLAYED: "true"}
    return Replay(stored.status, stored.response, headers)


async def idempotent(
    request: Request,
    state: State,
    principal: Annotated[Principal, Depends(get_principal)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Makes a retry safe: the same key with the same body answers the first "
            "response again and creates nothing; with another body, 422. Kept 24 hours, "
            "per agency.",
        ),
    ] = None,
) -> None:
    """Dependency of create routes: claim the key, replay a stored response, or refuse."""
    if idempotency_key is None:
        return
    s = state.settings
    body = await request.body()
    digest = request_hash(
        request.method,
        request.url.path,
        request.url.query,
        request.headers.get("content-type", "").split(";")[0].strip(),
        body,
    )
    ttl_s, deadline = s.idempotency_ttl_hours * 3600, None
    delay = 0.05
    while True:
        async with state.pool.acquire() as conn:
            stored = await idempotency_db.claim(
                conn,
                agency_id=principal.agency_id,
                key=idempotency_key,
                request_hash=digest,
                ttl_s=ttl_s,
                stale_s=s.idempotency_stale_s,
            )
            if stored is None and random.random() < _SWEEP_CHANCE:
                await idempotency_db.sweep(conn, ttl_s=ttl_s)
        if stored is None:
            request.state.idempotency = Claim(state.pool, principal.agency_id, idempotency_key)
            return
        if stored.status is not None and stored.request_hash == "":
            raise _replay(stored)  # erased since: the stored answer is a 410, whatever the body
        if stored.request_hash != digest:
            raise validation_problem(
                [
                    FieldError(
                        field=f"header.{HEADER}",
                        message="this key was already used with another request",
                    )
                ]
            )
        if stored.status is not None:
            raise _replay(stored)
        location = (stored.headers or {}).get("location")
        if location is not None:  # pending, its result is queued: the route answers with it
            request.state.idempotency_location = location
            return
        # Pending: the first request with this key is still running.
        loop = asyncio.get_running_loop()
        deadline = deadline or loop.time() + s.idempotency_wait_s
        if loop.time() >= deadline:
            raise ProblemError(
                409,
                "Conflict",
                "A request with this Idempotency-Key is still being processed; retry it later "
                "with the same key.",
                slug="idempotency-key-in-use",
                headers={"Retry-After": "1"},
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


Idempotent = Annotated[None, Depends(idempotent)]


def pending_location(request: Request) -> str | None:
    """Where the result of a pending request with this key is (see `note_location`)."""
    value = getattr(request.state, "idempotency_location", None)
    return value if isinstance(value, str) else None


async def note_location(request: Request, location: str) -> None:
    """Note on a claimed key where the request's result will be (a job it queued), so that a
    retry finds it even if this request never answers (its process dies)."""
    claim = getattr(request.state, "idempotency", None)
    if isinstance(claim, Claim):
        async with claim.pool.acquire() as conn:
            await idempotency_db.note_location(
                conn, agency_id=claim.agency_id, key=claim.key, location=location
            )


class IdempotencyMiddleware:
    """Stores the 2xx response of a request that claimed an idempotency key; releases the key
    of any other outcome. Other requests pass straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []
        done = False

        def claim() -> Claim | None:
            value = (scope.get("state") or {}).get("idempotency")
            return value if isinstance(value, Claim) else None

        async def hold(message: Message) -> None:
            nonlocal done
            if claim() is None:
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await _finish(claim(), held)  # type: ignore[arg-type]
                done = True
                for m in held:
                    await send(m)

        try:
            await self.app(scope, receive, hold)
        finally:
            c = claim()
            if c is not None and not done:
                # Also when the request is cancelled (client gone): shielded, the release runs
                # to its end even if this task does not.
                release = asyncio.ensure_future(_release(c))
                _pending.add(release)
                release.add_done_callback(_pending.discard)
                await asyncio.shield(release)


async def _finish(claim: Claim, messages: list[Message]) -> None:
    start = messages[0]
    status = int(start["status"])
    if not 200 <= status < 300:
        await _release(claim)
        return
    raw = b"".join(m.get("body", b"") for m in messages[1:])
    headers = {
        k.decode("latin-1").lower(): v.decode("latin-1")
        for k, v in start.get("headers", [])
        if k.decode("latin-1").lower() in _KEPT_HEADERS
    }
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = raw.decode("utf-8", "replace")
    try:
        async with claim.pool.acquire() as conn:
            await idempotency_db.complete(
                conn,
                agency_id=claim.agency_id,
                key=claim.key,
                status=status,
                response=body,
                headers=headers,
            )
    except (OSError, asyncpg.PostgresError):
        # The create is done and answered; a retry finds the key pending until it goes stale.
        log.warning("could not store an idempotent response")


async def _release(claim: Claim) -> None:
    try:
        async with claim.pool.acquire() as conn:
            await idempotency_db.release(conn, agency_id=claim.agency_id, key=claim.key)
    except (OSError, asyncpg.PostgresError):
        log.warning("could not release an idempotency key")


def install(app: FastAPI) -> None:
    """The replay handler and the middleware (add before the outer middlewares)."""

    async def replay(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Replay)
        headers = {k: v for k, v in exc.headers.items() if k != "content-type"}
        media_type = exc.headers.get("content-type", "application/json")
        if exc.body is None:
            return Response(status_code=exc.status, headers=headers, media_type=media_type)
        return JSONResponse(exc.body, exc.status, headers=headers, media_type=media_type)

    app.add_exception_handler(Replay, replay)
    app.add_middleware(IdempotencyMiddleware)
