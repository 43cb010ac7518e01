"""ASGI middleware: load shedding, request body size limit, and access logs without personal
data."""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import problem_response

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
        declared = dict(scope.get("headers") or []).get(b"content-length")
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


class InFlightLimit:
    """Sheds load: beyond `max_in_flight` `/v1` requests being served by this process, a new one
    is answered 503 with Retry-After at once instead of queueing behind the others.

    A queue in front of a saturated process only adds waiting time until clients time out;
    answering at once keeps the latency of the requests it does serve bounded and tells clients
    to come back. Probes (`/healthz`, `/readyz`) and the docs are never shed. 0 turns it off.
    """

    def __init__(self, app: ASGIApp, max_in_flight: int, retry_after_s: int = 1) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after = str(retry_after_s)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.max_in_flight <= 0
            or not scope["path"].startswith("/v1/")
        ):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
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
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


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

        async def capture(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
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
            log.info(
                "%s %s %s %.1fms",
                scope["method"],
                getattr(route, "path", "-"),
                status,
                (time.perf_counter() - start) * 1000,
                extra={"key_id": str(principal) if principal else None},
            )
