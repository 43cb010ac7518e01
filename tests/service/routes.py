"""The app's routes as the security tests see them: method, path template, permission."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts

# Routes anyone may call: probes, metrics, the spec and its viewer with its static assets.
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/docs/assets",
    }
)
# The caseworker console: HTML pages behind a session cookie, not an API key; its sign-in,
# sessions and permissions are tested in tests/service/console/.
CONSOLE_PREFIX = "/console"
_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    operation: str | None  # the PERMISSIONS entry its authorize() dependency checks
    params: tuple[str, ...]  # path parameter names

    def url(self, values: dict[str, str]) -> str:
        return _PARAM.sub(lambda m: values[m.group(1)], self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def operation_of(dependant: Any) -> str | None:
    stack = list(dependant.dependencies) if dependant is not None else []
    while stack:
        dep = stack.pop()
        op = getattr(dep.call, "operation", None)
        if op is not None:
            return str(op)
        stack.extend(dep.dependencies)
    return None


def endpoints(app: Any) -> list[Endpoint]:
    """Every method of every route of the app (non-API routes too, with operation None).

    `app.routes` holds included routers as one entry each; iter_route_contexts walks into them
    and gives each route's full path and its dependencies as mounted.
    """
    out = []
    for ctx in iter_route_contexts(app.routes):
        path = ctx.path
        assert path is not None, ctx
        if path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/"):
            continue
        methods = sorted(ctx.methods or {"GET"})
        api = isinstance(ctx.original_route, APIRoute)
        op = operation_of(ctx.dependant) if api else None
        for method in methods:
            if method == "HEAD":
                continue
            out.append(Endpoint(method, path, op, tuple(_PARAM.findall(path))))
    assert out, "no routes found"
    return out


def protected_endpoints(app: Any) -> list[Endpoint]:
    return [e for e in endpoints(app) if e.path not in PUBLIC_PATHS]
