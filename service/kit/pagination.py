"""Keyset pagination, written once: opaque cursors over (created_at, id), and the split of a
fetch of `limit + 1` rows into a page and whether more follow."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from service.kit.problems import FieldError, validation_problem

T = TypeVar("T")


def encode_key(created_at: datetime, record_id: UUID) -> str:
    """An opaque cursor for keyset pagination over (created_at, id)."""
    raw = f"{created_at.isoformat()}|{record_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, rid = raw.split("|")
        return datetime.fromisoformat(created), UUID(rid)
    except (ValueError, UnicodeDecodeError):
        raise validation_problem(
            [FieldError(field="query.cursor", message="not a cursor returned by this API")]
        ) from None


def split_page(
    rows: Sequence[T], limit: int, cursor_of: Callable[[T], str]
) -> tuple[list[T], str | None]:
    """Repositories fetch `limit + 1` rows: the page is the first `limit`, and a cursor to the
    next page exists only when the extra row came back."""
    page = list(rows[:limit])
    more = len(rows) > limit
    return page, cursor_of(page[-1]) if more and page else None
