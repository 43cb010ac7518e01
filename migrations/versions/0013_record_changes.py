"""Indexes for "did any record of the agency change since?": a stored match list is answered
again (service/match_lists, JOBMATCH_MATCH_LIST_REUSE_SECONDS) only when no candidate record
was written, and no posting expired, since it was made.

Revision ID: 0013_record_changes
Revises: 0012_posting_search
Create Date: 2026-12-02
"""

from alembic import op

revision = "0013_record_changes"
down_revision = "0012_posting_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX posting_agency_updated_idx ON posting (agency_id, updated_at)")
    op.execute("CREATE INDEX seeker_agency_updated_idx ON seeker (agency_id, updated_at)")
    op.execute(
        "CREATE INDEX posting_agency_valid_through_idx ON posting (agency_id, valid_through)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS posting_agency_valid_through_idx")
    op.execute("DROP INDEX IF EXISTS seeker_agency_updated_idx")
    op.execute("DROP INDEX IF EXISTS posting_agency_updated_idx")
