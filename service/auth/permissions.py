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
    "match_lists:read": frozenset({C}),
    "decisions:write": frozenset({C}),
    "outcomes:write": frozenset({P, C}),
    "audit:read": frozenset({A, U}),
    "api_keys:read": frozenset({A}),
    "api_keys:write": frozenset({A}),
    "models:train": frozenset({A}),
    "models:read": frozenset({A}),
    "models:activate": frozenset({A}),
}

KEY_PREFIX = "jm"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key, its agency and its role."""

    key_id: UUID
    agency_id: UUID
    role: Role

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
