"""Console sessions: an API key exchanged for a server-side session, and the principal of a
session. The console's pages call the other capabilities' services with that principal."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from service.audit import service as auditing
from service.auth import repository as keys_db
from service.auth.permissions import Principal, Role
from service.console import repository as sessions_db
from service.kit.problems import ProblemError

# Roles that may sign in: the console is for people reviewing and overseeing, not for portals.
CONSOLE_ROLES = frozenset({Role.caseworker, Role.admin, Role.auditor})
PERSON_MAX_CHARS = 200


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in person: their key's agency and role, and the name or staff id they gave."""

    token: str
    agency_id: UUID
    api_key_id: UUID
    role: Role
    person: str
    expires_at: datetime

    @property
    def csrf_token(self) -> str:
        return csrf_token_for(self.token)


def principal_for(session: ConsoleSession) -> Principal:
    """The principal every console action runs as: the session's key, agency and role, and
    the person who signed in, recorded as `acted_by` with every decision they make."""
    return Principal(
        key_id=session.api_key_id,
        agency_id=session.agency_id,
        role=session.role,
        acting_person=session.person,
    )


def _hash(token: str) -> bytes:
    # 256 random bits: a fast hash is enough (nothing to brute-force), as for API keys.
    return hashlib.sha256(token.encode()).digest()


def csrf_token_for(token: str) -> str:
    """The form token of a session: derived from the session token (never stored, never
    guessable without the HttpOnly cookie), so each session has its own."""
    return hmac.new(token.encode(), b"console-csrf", hashlib.sha256).hexdigest()


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


class SignInRefused(ProblemError):
    def __init__(self, reason: str) -> None:
        super().__init__(401, "Sign-in refused", reason, slug="sign-in-refused")
        self.reason = reason


async def sign_in(
    pool: asyncpg.Pool, *, secret: str, person: str, lifetime: timedelta
) -> ConsoleSession:
    """A new session for a caseworker, admin or auditor key (portal keys are refused), audited
    with the key and the person (`acted_by`) as actor, as every action of the session is."""
    person = " ".join(person.split())
    if not person or len(person) > PERSON_MAX_CHARS:
        raise SignInRefused("person")
    async with pool.acquire() as conn, conn.transaction():
        principal = await keys_db.principal_for_secret(conn, secret=secret.strip())
        if principal is None:
            raise SignInRefused("key")
        if principal.role not in CONSOLE_ROLES:
            raise SignInRefused("role")
        await sessions_db.delete_expired(conn)
        token = secrets.token_urlsafe(32)
        expires_at = datetime.now(UTC) + lifetime
        await sessions_db.insert(
            conn,
            token_hash=_hash(token),
            agency_id=principal.agency_id,
            api_key_id=principal.key_id,
            person=person,
            expires_at=expires_at,
        )
        await auditing.log(
            conn,
            replace(principal, acting_person=person),
            "console.sign_in",
            subject_type="api_key",
            subject_id=principal.key_id,
        )
    return ConsoleSession(
        token=token,
        agency_id=principal.agency_id,
        api_key_id=principal.key_id,
        role=principal.role,
        person=person,
        expires_at=expires_at,
    )


async def session_for(pool: asyncpg.Pool, token: str | None) -> ConsoleSession | None:
    """The live session of a cookie's token (None: no cookie, expired, signed out, revoked)."""
    if not token or len(token) > 100:
        return None
    async with pool.acquire() as conn:
        stored = await sessions_db.get(conn, token_hash=_hash(token))
    if stored is None:
        return None
    return ConsoleSession(
        token=token,
        agency_id=stored.agency_id,
        api_key_id=stored.api_key_id,
        role=stored.role,
        person=stored.person,
        expires_at=stored.expires_at,
    )


async def sign_out(pool: asyncpg.Pool, session: ConsoleSession) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if await sessions_db.delete(conn, token_hash=_hash(session.token)):
            await auditing.log(
                conn,
                principal_for(session),
                "console.sign_out",
                subject_type="api_key",
                subject_id=session.api_key_id,
            )
