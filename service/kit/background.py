"""Steps that run beside the requests (warming caches, reloading posting vectors)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable
from typing import TypeVar

import asyncpg

from service.kit.pool import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)
T = TypeVar("T")


async def logged(failure: str, step: Awaitable[T]) -> T | None:
    """Run a background step; a failure is logged (None returned) and leaves matching on the
    database, where requests find what they need."""
    try:
        return await step
    except (*DATABASE_UNAVAILABLE, asyncpg.PostgresError) as exc:
        log.warning("%s: %s", failure, type(exc).__name__)
    except Exception as exc:  # never silent; the type and stack only (no profile data)
        stack = "".join(traceback.format_tb(exc.__traceback__))
        log.error("%s: %s\n%s", failure, type(exc).__name__, stack)
    return None
