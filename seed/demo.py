"""Demo agency: keys for every role and a few hundred generated seekers and postings."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from seed.demo_feedback import record_simulated_feedback
from service.auth import repository as agencies
from service.auth.permissions import Principal, Role
from service.kit.problems import ProblemError
from service.records.bulk import import_now
from service.state import AppState

DEMO_AGENCY = "Demo Employment Agency"


@dataclass
class DemoInfo:
    agency_id: UUID
    keys: dict[Role, str]
    seeded: bool


async def prepare_demo(
    state: AppState, *, postings: int, seekers: int, feedback_lists: int = 40
) -> DemoInfo:
    """Create the demo agency and its data on first run; issue fresh keys on every run."""
    from seed.generate import generate_postings, generate_seekers

    async with state.pool.acquire() as conn, conn.transaction():
        agency = await agencies.get_agency_by_name(conn, name=DEMO_AGENCY)
        seeded = agency is None
        if agency is None:
            agency = await agencies.create_agency(conn, name=DEMO_AGENCY)
        keys: dict[Role, str] = {}
        for role in Role:
            name = f"demo-{role.value}"
            # Secrets are shown once, so a restart revokes the old demo keys and prints new ones.
            await agencies.revoke_keys_named(conn, agency_id=agency.id, name=name)
            key = await agencies.create_api_key(conn, agency_id=agency.id, role=role, name=name)
            keys[role] = key.secret
    if seeded:
        principal = Principal(key_id=UUID(int=0), agency_id=agency.id, role=Role.portal)
        await import_now(state, principal, "posting", generate_postings(postings))
        await import_now(state, principal, "seeker", generate_seekers(seekers))
        if feedback_lists:
            await seed_feedback(state, agency.id, lists=feedback_lists)
    return DemoInfo(agency_id=agency.id, keys=keys, seeded=seeded)


async def seed_feedback(state: AppState, agency_id: UUID, *, lists: int) -> int:
    """Candidate lists for the first `lists` live postings, with simulated caseworker feedback,
    so an admin can retrain at once and see a model that beats the default scorer."""
    from service.match_lists.service import seekers_for_posting
    from service.records import repository as records_db

    principal = Principal(key_id=UUID(int=0), agency_id=agency_id, role=Role.caseworker)
    list_ids: list[UUID] = []
    async with state.pool.acquire() as conn:
        rows = await records_db.page(
            conn, "posting", agency_id=agency_id, limit=lists * 2, after=None
        )
    for row in rows:
        if len(list_ids) >= lists:
            break
        try:
            produced = await seekers_for_posting(state, principal, row.id, limit=20, language="en")
        except ProblemError:  # expired postings are not matched
            continue
        list_ids.append(produced.id)
    return await record_simulated_feedback(state, principal, list_ids)
