"""API keys, roles, and the permission table (role × operation), kept in one place."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class Role(StrEnum):
    portal = "portal"
    caseworker = "caseworker"
    admin = "admin"
    auditor = "auditor"


P, C, A, U = Role.portal, Role.caseworker, Role.admin, Role.auditor

# Which roles may perform each operation. Every route names exactly one operation; a test walks
# all routes of the app with every role against this table.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "seekers:write": frozenset({P, C}),
    "seekers:read": frozenset({P, C}),
    "seekers:delete": frozenset({P, C}),
    "seekers:export": frozenset({C, A}),
    "postings:write": frozenset({P}),
    "postings:read": frozenset({P, C}),
    "postings:delete": frozenset({P}),
    "matches:create": frozenset({P, C}),
    "jobs:read": frozenset({P, C, A}),
    "fairness_policy:read": frozenset({C, A, U}),
    "fairness_policy:write": frozenset({A}),
    "capacity_policy:read": frozenset({A, U}),
    "capacity_policy:write": frozenset({A}),
    "reports:read": frozenset({A, U}),
    # Auditors oversee stored lists and their decisions (read-only); a list names seekers by
    # id only. What would change reads a seeker's profile: caseworkers only.
    "match_lists:read": frozenset({C, U}),
    "match_lists:what_if": frozenset({C}),
    "decisions:write": frozenset({C}),
    "outcomes:write": frozenset({P, C}),
    "audit:read": frozenset({A, U}),
    "api_keys:read": frozenset({A}),
    "api_keys:write": frozenset({A}),
    "models:train": frozenset({A}),
    "models:read": frozenset({A, U}),
    "models:activate": frozenset({A}),
    "agency_settings:read": frozenset({A, U}),
    "agency_settings:write": frozenset({A}),
    "retention:run": frozenset({A}),
    "ranking:read": frozenset({C, A, U}),
    "ranking:write": frozenset({A}),
}

# Operations an agency may open to its auditors (setting `auditor_reads_profiles`, audited):
# personal profiles stay outside the auditor role unless the agency grants them.
AUDITOR_GRANTABLE: frozenset[str] = frozenset({"seekers:read"})

# Operations whose acting person is recorded (`acted_by`): with the agency setting
# `require_acting_person`, a request without the `Acting-Person` header is refused.
ACCOUNTABLE: frozenset[str] = frozenset(
    {
        "decisions:write",
        "outcomes:write",
        "fairness_policy:write",
        "models:activate",
        "models:train",
        "api_keys:write",
        "agency_settings:write",
        "retention:run",
    }
)

KEY_PREFIX = "jm"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key, its agency and its role, and the person acting through it (an
    opaque staff id from the `Acting-Person` header, or the console's signed-in person)."""

    key_id: UUID
    agency_id: UUID
    role: Role
    acting_person: str | None = None

    def may(self, operation: str) -> bool:
        return self.role in PERMISSIONS[operation]


def new_secret() -> tuple[str, str, bytes]:
    """A new API key: (full secret shown once, short prefix for display, hash to store)."""
    prefix = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return secret, prefix, hash_secret(secret)


def hash_secret(secret: str) -> bytes:
    # Keys carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode()).digest()
