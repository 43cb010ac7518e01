"""Sessions of the caseworker console (service/console): a signed-in API key and the person
using it. Only a hash of the session token is stored, as for API keys; revoking the key ends
its sessions (ON DELETE CASCADE for a deleted key, and sign-in checks `revoked_at`).

And the stop switch of automated ranking (service/match_lists): a row per agency (posting_id
NULL) or posting whose lists are made in the non-personalised order until it is deleted.

Revision ID: 0016_console_sessions
Revises: 0013_record_changes
Create Date: 2026-12-02
"""

from alembic import op

revision = "0016_console_sessions"
down_revision = "0015_accountability"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE console_session (
            token_hash bytea NOT NULL,
            agency_id uuid NOT NULL,
            api_key_id uuid NOT NULL,
            person text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            CONSTRAINT console_session_pkey PRIMARY KEY (token_hash),
            CONSTRAINT console_session_api_key_fkey FOREIGN KEY (api_key_id)
                REFERENCES api_key (id) ON DELETE CASCADE,
            CONSTRAINT console_session_person_check
                CHECK (length(person) BETWEEN 1 AND 200)
        )
        """
    )
    op.execute("CREATE INDEX console_session_expires_idx ON console_session (expires_at)")
    op.execute("CREATE INDEX console_session_api_key_idx ON console_session (api_key_id)")
    op.execute(
        """
        CREATE TABLE ranking_stop (
            agency_id uuid NOT NULL,
            posting_id uuid,
            stopped_at timestamptz NOT NULL DEFAULT now(),
            stopped_by uuid,
            CONSTRAINT ranking_stop_agency_fkey FOREIGN KEY (agency_id)
                REFERENCES agency (id) ON DELETE CASCADE,
            CONSTRAINT ranking_stop_posting_fkey FOREIGN KEY (posting_id)
                REFERENCES posting (id) ON DELETE CASCADE
        )
        """
    )
    # One row for the whole agency, one per posting (PostgreSQL 14 has no NULLS NOT DISTINCT).
    op.execute(
        "CREATE UNIQUE INDEX ranking_stop_agency_key ON ranking_stop (agency_id) "
        "WHERE posting_id IS NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX ranking_stop_posting_key ON ranking_stop (agency_id, posting_id) "
        "WHERE posting_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS ranking_stop")
    op.execute("DROP TABLE IF EXISTS console_session")
