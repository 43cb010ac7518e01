"""ASGI middleware: load shedding, request body size limit, and access logs without personal
data."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections import deque
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.kit.logs import REQUEST_ID, REQUEST_ID_HEADER, request_id_from
from service.kit.metrics import SHED
from service.kit.problems import FieldError, problem_response

log = logging.getLogger("jobmatch.access")


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Answers 413 before reading more than `max_bytes` of a request body."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        framed = False  # a body needs Content-Length or Transfer-Encoding (RFC 9112, 6.3)
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                declared, framed = value, True
            elif name == b"transfer-encoding":
                framed = True
        if not framed:  # no body (most GETs): nothing to count
            await self.app(scope, receive, send)
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            None,
            413,
            "Content too large",
            f"Request bodies are limited to {self.max_bytes} bytes.",
            slug="content-too-large",
        )
        await response(scope, receive, send)


def _json_like(media_type: str) -> bool:
    subtype = media_type.partition("/")[2]
    return subtype == "json" or subtype.endswith("+json")


def _streams_json(media_type: str) -> bool:
    return "ndjson" in media_type or "jsonl" in media_type


class _DuplicateKey(ValueError):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def duplicate_key(raw: bytes) -> str | None:
    """The first object key that repeats in a JSON document (None when none does, or when it
    is not JSON at all: the route reports that). Python's parser is the one that can see
    repeats; orjson, like most, keeps the last value silently."""
    if b'"' not in raw:
        return None
    try:
        json.loads(raw, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        return exc.path
    except ValueError:
        return None
    return None


_CHECK_INLINE_BYTES = 256 * 1024


class JsonBodies:
    """Every `/v1` request body is JSON (`application/json`, `…+json` such as JSON-LD and merge
    patches, or NDJSON for bulk uploads): any other media type with a body answers one 415;
    a JSON document whose objects repeat a key answers 422 (which value is meant cannot be
    known, and parsers disagree: most keep the last silently)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        media_type = ""
        framed = False
        for name, value in scope.get("headers") or ():
            if name == b"content-type":
                media_type = value.decode("latin-1").split(";")[0].strip().lower()
            elif name == b"content-length":
                framed = framed or value.strip() not in (b"", b"0")
            elif name == b"transfer-encoding":
                framed = True
        if not framed or not media_type or _streams_json(media_type):
            await self.app(scope, receive, send)
            return
        if not _json_like(media_type):
            response = problem_response(
                None,
                415,
                "Unsupported media type",
                "Request bodies are JSON: send Content-Type: application/json (postings also "
                "application/ld+json, patches application/merge-patch+json, bulk uploads "
                "application/x-ndjson).",
                slug="unsupported-media-type",
            )
            await response(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # the client left: let the app see it
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        # Python's parser is several times slower than orjson: a large body is checked off the
        # event loop.
        large = len(raw) > _CHECK_INLINE_BYTES
        repeated = await asyncio.to_thread(duplicate_key, raw) if large else duplicate_key(raw)
        if repeated is not None:
            response = problem_response(
                None,
                422,
                "Validation failed",
                "A JSON object repeats a key; send each key once.",
                slug="validation",
                errors=[FieldError(field="body", message=f"duplicate key {repeated!r}")],
            )
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class InFlightLimit:
    """Sheds load: at most `max_in_flight` `/v1` requests are served at once by this process;
    a request beyond that waits for a slot (first come, first served) for at most
    `max_wait_s`, and at most `max_waiting` requests wait. A request that finds the queue full,
    or waits longer, is answered 503 with Retry-After.

    A long queue in front of a saturated process only adds waiting time until clients time out;
    answering at once keeps the latency of the requests it does serve bounded and tells clients
    to come back. The short wait absorbs bursts of cheap requests (reads, which free a slot in
    milliseconds) without shedding them. Probes (`/healthz`, `/readyz`) and the docs are never
    shed. `max_in_flight` 0 turns it off; `max_wait_s` 0 sheds at once. With `paths`, only
    `/v1` paths ending in one of them count (a tighter cap for a class of expensive routes).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_in_flight: int,
        retry_after_s: int = 1,
        *,
        max_wait_s: float = 0.0,
        max_waiting: int | None = None,
        paths: tuple[str, ...] = ("",),
        name: str = "all",
    ) -> None:
        self.app = app
        self.shed = SHED.labels(name)  # the metric of what this limit sheds
        self.suffixes = paths  # only /v1 paths ending so (the default: every one)
        self.max_in_flight = max_in_flight
        self.retry_after = str(retry_after_s)
        self.max_wait_s = max_wait_s
        self.max_waiting = max_in_flight if max_waiting is None else max_waiting
        self.in_flight = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.max_in_flight <= 0
            or not scope["path"].startswith("/v1/")
            or not scope["path"].endswith(self.suffixes)
        ):
            await self.app(scope, receive, send)
            return
        if self.in_flight < self.max_in_flight:
            self.in_flight += 1
        elif not await self._wait_for_slot():
            self.shed.inc()
            response = problem_response(
                None,
                503,
                "Overloaded",
                "The service is at capacity; retry after the time in Retry-After.",
                slug="overloaded",
                headers={"Retry-After": self.retry_after},
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._release()

    def _release(self) -> None:
        """A finished request hands its slot to the longest-waiting one, if any."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_flight -= 1

    async def _wait_for_slot(self) -> bool:
        if self.max_wait_s <= 0 or len(self._waiting) >= self.max_waiting:
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(self.max_wait_s):
                await asyncio.shield(waiter)
            return True
        except TimeoutError:
            if waiter.done():  # handed a slot just as the wait ran out: take it
                return True
            waiter.cancel()
            self._waiting.remove(waiter)
            return False
        except BaseException:  # cancelled (the client left): pass on a slot handed over
            if waiter.done():
                self._release()
            else:
                waiter.cancel()
                self._waiting.remove(waiter)
            raise


class AccessLog:
    """One line per request: method, route template, status, duration, agency and key ids.

    Never the query string, body or record ids' contents: those can carry personal data.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False
        header = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode())
        request_id = request_id_from(header)
        token = REQUEST_ID.set(request_id)

        async def capture(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except Exception as exc:
            # Answered here rather than by the server, whose error log would print the
            # exception's text (which may quote personal data): type, route and stack only.
            route_path = getattr(scope.get("route"), "path", "-")
            stack = "".join(traceback.format_tb(exc.__traceback__))
            log.error("unhandled %s on %s\n%s", type(exc).__name__, route_path, stack)
            if not started:
                response = problem_response(
                    None,
                    500,
                    "Internal error",
                    "Something went wrong on our side.",
                    slug="internal",
                )
                await response(scope, receive, send)
        finally:
            route: Any = scope.get("route")
            principal = getattr(scope.get("state", {}).get("principal"), "key_id", None)
            # The key id goes into the message itself: the log format prints no `extra` fields.
            key_id = str(principal) if principal else "-"
            log.info(
                "%s %s %s %.1fms key=%s",
                scope["method"],
                getattr(route, "path", "-"),
                status,
                (time.perf_counter() - start) * 1000,
                key_id,
                extra={"key_id": key_id},
            )
            REQUEST_ID.reset(token)
