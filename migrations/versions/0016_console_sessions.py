"""Sessions of the caseworker console (service/console): a signed-in API key and the person
using it. Only a hash of the session token is stored, as for API keys; revoking the key ends
its sessions (ON DELETE CASCADE for a deleted key, and sign-in checks `revoked_at`).

Revision ID: 0016_console_sessions
Revises: 0013_record_changes
Create Date: 2026-12-02
"""

from alembic import op

revision = "0016_console_sessions"
down_revision = "0013_record_changes"
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


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS console_session")
