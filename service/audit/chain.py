"""The audit log's hash chain, recomputed in Python: each event's hash is
sha256(previous hash || content), content being the fields joined by U+001F (NULL as the empty
string, the time in UTC with microseconds, details as PostgreSQL prints jsonb).

The database computes the same when an event is inserted (migration 0015,
`audit_event_content`); verifying here does not trust that function.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC

from service.audit.repository import ChainedEvent

ZERO_HASH = bytes(32)


def content(e: ChainedEvent) -> bytes:
    fields = [
        str(e.id),
        str(e.agency_id),
        e.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        str(e.actor_key_id) if e.actor_key_id else "",
        e.actor_role or "",
        e.acted_by or "",
        e.action,
        e.subject_type or "",
        str(e.subject_id) if e.subject_id else "",
        ",".join(str(s) for s in e.subject_ids) if e.subject_ids else "",
        e.route or "",
        e.details_text,
    ]
    return "\x1f".join(fields).encode()


def event_hash(previous: bytes, e: ChainedEvent) -> bytes:
    return hashlib.sha256(previous + content(e)).digest()


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain first fails: the event's seq (None: past the last event) and why."""

    seq: int | None
    reason: str


@dataclass
class Walk:
    """A verification in progress over events in seq order, batch by batch."""

    expected_previous: bytes
    checked: int = 0
    last_seq: int = 0
    first_break: Break | None = None

    def feed(self, events: Iterable[ChainedEvent]) -> None:
        for e in events:
            if self.first_break is not None:
                return
            self.checked += 1
            self.last_seq = e.seq
            if e.prev_hash != self.expected_previous:
                self.first_break = Break(
                    e.seq, "its previous hash is not the hash of the event before it"
                )
            elif e.hash != event_hash(self.expected_previous, e):
                self.first_break = Break(e.seq, "its content does not match its hash")
            else:
                self.expected_previous = e.hash

    def finish(self, head_hash: bytes) -> None:
        if self.first_break is None and self.expected_previous != head_hash:
            self.first_break = Break(
                None, "the chain ends before the recorded head: events after the last were removed"
            )
